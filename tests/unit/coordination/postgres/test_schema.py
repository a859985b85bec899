"""The kit's schema in PostgreSQL (scheduler_proc/coordination/postgres/schema.py) on a real server:
created at the version this kit knows, once (a second migration is a no-op), in a schema a DBA made for
the kit's role, by one node when several start at once (the others wait for it, however short
their lease-sized timeouts), and refused when a newer kit migrated it."""

from __future__ import annotations

import threading

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


def test_nodes_starting_at_once_migrate_once_and_keep_what_is_there(postgres_server: PostgresServer) -> None:
    settings = store(node_settings(postgres_server, "web-1"))
    postgres_server.psql(f"DROP SCHEMA {SCHEMA} CASCADE")  # as on a new server
    start = threading.Barrier(4)
    found: list[int | BaseException] = []

    def node() -> None:
        client = Client(settings)
        start.wait()
        try:
            found.append(migrate(client))
        except BaseException as exc:  # reported by the assertion below
            found.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=node) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(found, key=str) == [0, VERSION, VERSION, VERSION], "one migrated, the others found it done"
    postgres_server.psql(f"INSERT INTO {SCHEMA}.paused VALUES ('j', 1.0)")
    client = Client(settings)
    assert migrate(client) == VERSION
    client.close()
    assert postgres_server.psql(f"SELECT job_id FROM {SCHEMA}.paused") == [("j",)], "a migration keeps the data"


def test_a_node_waits_for_another_nodes_migration_longer_than_its_lease_sized_timeouts(
    postgres_server: PostgresServer,
) -> None:
    settings = store(node_settings(postgres_server, "web-1", ttl=1.0))  # statement and lock timeouts of 0.25 s
    client = Client(settings)
    with postgres_server.admin() as other, other.transaction():
        other.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"scheduler-proc:{SCHEMA}"])
        found: list[int] = []
        waiting = threading.Thread(target=lambda: found.append(migrate(client)))
        waiting.start()
        waiting.join(1.0)  # four times the connection's lock_timeout
        assert waiting.is_alive(), "the node waits for the other's migration"
    waiting.join(10)
    assert found == [VERSION]
    client.close()
