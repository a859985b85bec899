"""The kit's schema in PostgreSQL (scheduler_proc/coordination/postgres/schema.py) on a real
server: migrated once however often and however many nodes at once ask, by a role that owns
only its schema, and refused when a newer kit migrated it."""

from __future__ import annotations

import threading

import pytest
from pg_support import PostgresServer
from store_support import postgres_settings

from scheduler_proc.coordination.postgres import schema
from scheduler_proc.coordination.postgres.conn import Client
from scheduler_proc.errors import PostgresConfigError


def test_a_migration_runs_once_and_again_changes_nothing(postgres_server: PostgresServer) -> None:
    client = Client(postgres_settings(postgres_server))
    assert schema.migrate(client) == 0
    postgres_server.psql("INSERT INTO kit.paused VALUES ('j', 1.0)")
    assert schema.migrate(client) == schema.VERSION
    assert postgres_server.psql("SELECT job_id FROM kit.paused") == [("j",)]
    assert postgres_server.psql("SELECT version FROM kit.schema_version") == [(schema.VERSION,)]
    client.close()


def test_nodes_starting_at_once_migrate_once(postgres_server: PostgresServer) -> None:
    settings = postgres_settings(postgres_server)
    start = threading.Barrier(4)
    found: list[int | BaseException] = []

    def node() -> None:
        client = Client(settings)
        start.wait()
        try:
            found.append(schema.migrate(client))
        except BaseException as exc:  # reported below
            found.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=node) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(found, key=str) == [0, 1, 1, 1]


def test_a_role_that_owns_only_its_schema_migrates_it(postgres_server: PostgresServer) -> None:
    url = postgres_server.app_role("shop", "pw-shop")
    client = Client(postgres_settings(postgres_server, schema="shop", url=url))
    assert schema.migrate(client) == 0
    client.close()


def test_a_schema_a_newer_kit_migrated_is_refused(postgres_server: PostgresServer) -> None:
    client = Client(postgres_settings(postgres_server))
    schema.migrate(client)
    postgres_server.psql(f"UPDATE kit.schema_version SET version = {schema.VERSION + 1}")
    with pytest.raises(PostgresConfigError, match=r"newer than this kit knows.*upgrade scheduler-proc"):
        schema.migrate(client)
    client.close()
