"""The ledger's and the bus's statements (scheduler_proc/coordination/postgres/statements.py) on a
real server: the app's schema is put in, and every error reaches the caller as the kit's own."""

from __future__ import annotations

import pytest
from pg_support import PostgresServer
from store_support import postgres_settings

from scheduler_proc.coordination.postgres.conn import Client
from scheduler_proc.coordination.postgres.statements import Statements
from scheduler_proc.errors import PostgresConfigError, PostgresUnavailable


def test_statements_run_in_the_apps_schema_and_fail_with_the_kits_errors(postgres_server: PostgresServer) -> None:
    postgres_server.psql("CREATE SCHEMA shop")
    statements = Statements(Client(postgres_settings(postgres_server, schema="shop")))
    assert statements.compose("SELECT 1 FROM {schema}.t") is statements.compose("SELECT 1 FROM {schema}.t")
    assert statements.rows("SELECT %s::text", ["x"]) == [("x",)]
    assert statements.rows("CREATE TABLE {schema}.t (n int)") == [], "a statement that returns no rows"
    with pytest.raises(PostgresConfigError, match="refused"):
        statements.rows("SELECT 1 FROM {schema}.missing")  # no such table: a refusal, not an outage
    with pytest.raises(PostgresUnavailable, match=r"failed a statement .*division by zero"):
        statements.rows("SELECT 1 / 0")  # an error client.run leaves to its caller
    assert statements.rows("SELECT 2") == [(2,)], "the connection is still good"
    postgres_server.kill()
    with pytest.raises(PostgresUnavailable):
        statements.rows("SELECT 3")
    statements.client.close()
