"""The kit's schema in PostgreSQL (scheduler_proc/coordination/postgres/schema.py) on a real server:
created at the version this kit knows, once (a second migration is a no-op), in a schema a DBA made for
the kit's role, and refused when a newer kit migrated it."""

from __future__ import annotations

import pytest
from pg_lease_support import SCHEMA, node_settings, store
from pg_support import PostgresServer

from scheduler_proc.coordination.postgres.conn import Client
from scheduler_proc.coordination.postgres.schema import VERSION, migrate
from scheduler_proc.errors import PostgresConfigError


def _tables(server: PostgresServer) -> set[str]:
    rows = server.psql("SELECT tablename FROM pg_tables WHERE schemaname = %s", (SCHEMA,))
    return {str(name) for (name,) in rows}


def test_a_first_migration_creates_the_schema_and_a_second_finds_it_done(postgres_server: PostgresServer) -> None:
    settings = node_settings(postgres_server, "web-1")  # migrates
    assert {"schema_version", "lease", "server", "floor", "dead"} <= _tables(postgres_server)
    assert postgres_server.psql(f"SELECT version FROM {SCHEMA}.schema_version") == [(VERSION,)]
    client = Client(store(settings))
    assert migrate(client) == VERSION, "already at this version: nothing ran"
    client.close()


def test_a_schema_a_dba_made_for_the_kits_role_is_migrated_without_create_on_the_database(
    postgres_server: PostgresServer,
) -> None:
    """CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the schema exists."""
    url = postgres_server.app_role("scheduler_app", "app-secret-1", schema=SCHEMA)
    node_settings(postgres_server, "web-1", more={"SCHEDULER_POSTGRES_URL": url})
    owners = postgres_server.psql("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = %s", (SCHEMA,))
    assert owners == [("scheduler_app",)]


def test_a_schema_a_newer_kit_migrated_is_refused_naming_the_fix(postgres_server: PostgresServer) -> None:
    settings = node_settings(postgres_server, "web-1")
    postgres_server.psql(f"UPDATE {SCHEMA}.schema_version SET version = {VERSION + 1}")
    client = Client(store(settings))
    with pytest.raises(PostgresConfigError, match=r"newer than this kit knows .* upgrade scheduler-proc"):
        migrate(client)
    client.close()
