"""A stand-in for sql/lease.sql while the lease branch is not merged: just the tables and the one
function the ledger's claim reads (lease, floor, dead, server, the terms sequence,
check_continuity), and a way to take the lease as acquire would. Tests only."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from scheduler_proc.coordination.postgres.conn import Client
from scheduler_proc.coordination.term import Term

STANDIN = """
CREATE TABLE IF NOT EXISTS {schema}.lease (id smallint PRIMARY KEY CHECK (id = 1), term bigint NOT NULL,
  token text NOT NULL, node text NOT NULL, expires_at timestamptz NOT NULL);
INSERT INTO {schema}.lease VALUES (1, 0, '', '', '-infinity') ON CONFLICT DO NOTHING;
CREATE SEQUENCE IF NOT EXISTS {schema}.terms;
CREATE TABLE IF NOT EXISTS {schema}.server (id smallint PRIMARY KEY CHECK (id = 1), identity text NOT NULL);
CREATE TABLE IF NOT EXISTS {schema}.floor (id smallint PRIMARY KEY CHECK (id = 1), at_us bigint NOT NULL,
  margin_ms bigint NOT NULL, reason text NOT NULL);
CREATE TABLE IF NOT EXISTS {schema}.dead (prefix text PRIMARY KEY, until timestamptz NOT NULL);
CREATE OR REPLACE FUNCTION {schema}.check_continuity(p_now_ms bigint, p_margin_ms bigint, p_reason text)
RETURNS text LANGUAGE sql AS $$ SELECT p_reason $$;
"""


def install(client: Client) -> None:
    """The stand-in tables and function in the client's schema (after ``schema.migrate``)."""
    statement = sql.SQL(STANDIN).format(schema=sql.Identifier(client.settings.schema))
    client.run(lambda conn: conn.execute(statement))


def lead(client: Client, node: str, ttl_ms: int = 10_000) -> Term:
    """Take the lease (whoever held it) as acquire would: a new term, a token that holds the row."""

    def take(conn: psycopg.Connection[Any]) -> tuple[Any, ...] | None:
        return conn.execute(
            sql.SQL(
                "UPDATE {schema}.lease SET term = nextval({terms}), node = %(node)s, "
                "token = currval({terms}) || ':standin:' || %(node)s, "
                "expires_at = clock_timestamp() + %(ttl)s * interval '1 millisecond' WHERE id = 1 RETURNING term, token"
            ).format(
                schema=sql.Identifier(client.settings.schema),
                terms=sql.Literal(f'"{client.settings.schema}".terms'),
            ),
            {"node": node, "ttl": ttl_ms},
        ).fetchone()

    row = client.run(take)
    assert row is not None
    return Term(fencing_token=int(row[0]), is_current=lambda: True, lease_token=str(row[1]))
