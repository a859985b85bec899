"""The lease's calls to PostgreSQL: each one statement that runs a function of sql/lease.sql.

What each function takes and returns is in its header there; the rows are decoded here into the
shared reply types (``lease/calls.py``). Every reply carries the database's clock, so every call
but release measures this host's clock on the way (see lease/clockwatch.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, NamedTuple

import psycopg
from psycopg import sql

from scheduler_proc.coordination.lease.calls import Acquired, HeldByOther, Renewal, Store, token_parts
from scheduler_proc.coordination.lease.clockwatch import ClockWatch
from scheduler_proc.coordination.postgres.conn import Client, Connection
from scheduler_proc.errors import UnreadableData
from scheduler_proc.formats.validate import shown

#: How the lease names PostgreSQL, and the fixes its warnings give.
POSTGRES = Store(
    name="PostgreSQL",
    key="postgres",
    call="lease function",
    blind="PostgreSQL does not let this user run pg_control_system() or pg_current_wal_lsn(): a failover to a "
    "standby or a point-in-time recovery that loses claims cannot be noticed; grant them (GRANT EXECUTE ON "
    "FUNCTION pg_control_system(), pg_current_wal_lsn() TO <user>)",
    durable="keep PostgreSQL's fsync and synchronous_commit on, and fail over only to a synchronous standby",
)


class DatabaseTime(NamedTuple):
    """The database's clock_timestamp(), in milliseconds since the epoch."""

    store_ms: int


class PostgresLeaseCalls:
    """One node's lease functions in one schema, with the clock measured on each reply."""

    store = POSTGRES
    #: The server ran the statement and answered with an error the kit does not map (a function
    #: of another shape, a value out of range): the lease thread logs it and retries.
    reply_errors: tuple[type[Exception], ...] = (psycopg.Error,)

    def __init__(self, client: Client, clock: ClockWatch, ready: Callable[[], None] = lambda: None) -> None:
        schema = client.settings.schema
        self.lease_key = f"{schema}.lease"
        self._client = client
        self._clock = clock
        self._ready = ready  # makes sure the schema is there (migrated) before the first lease call
        self._schema = sql.Identifier(schema)

    def acquire(self, node: str, ttl_ms: int, least_term: int, margin_ms: int) -> Acquired | HeldByOther:
        """Take the lease under a term of at least ``least_term``, or learn who holds it and for how long."""
        self._ready()
        args = (uuid.uuid4().hex[:12], node, ttl_ms, least_term, margin_ms)
        return self._clock.timed(lambda: acquire_reply(self._row("acquire", args)))

    def renew(self, lease_token: str, ttl_ms: int, margin_ms: int) -> Renewal:
        """Extend the lease while ``lease_token`` holds it, checking continuity (the clock is measured too)."""
        return self._clock.timed(lambda: renew_reply(self._row("renew", (lease_token, ttl_ms, margin_ms))))

    def renew_quiet(self, lease_token: str, ttl_ms: int) -> bool:
        """Extend the lease while ``lease_token`` holds it (the clock is measured: the reply has the time anyway)."""
        return self._clock.timed(lambda: renew_reply(self._row("renew", (lease_token, ttl_ms, None)))).renewed

    def measure_clock(self) -> None:
        """Measure this host's clock against the database's, without touching the lease."""
        query = sql.SQL("SELECT {}.epoch_ms(clock_timestamp())").format(self._schema)
        self._clock.timed(lambda: DatabaseTime(_number(self._client.run(lambda conn: _one(conn, query, ())[0]))))

    def release(self, lease_token: str) -> bool:
        """Give up the lease if ``lease_token`` still holds it, telling the standbys; True if it did."""
        return release_lease_of(self._client, lease_token)

    def holder(self, lease_token: str) -> tuple[int, str]:
        """(term, node) of a token read from the lease row."""
        parts = token_parts(lease_token)
        if parts is None:
            raise UnreadableData(
                self.lease_key,
                f"PostgreSQL's lease row {self.lease_key} holds the token {shown(lease_token)}, not a lease token "
                "(term:nonce:node); the kit made it run out within one lease TTL",
            )
        return parts

    def _row(self, function: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return call_function(self._client, function, args)


def call_function(client: Client, function: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """``SELECT * FROM <schema>.<function>(args...)``: its one row (ValueError if none)."""
    query = sql.SQL("SELECT * FROM {}.{}({})").format(
        sql.Identifier(client.settings.schema),
        sql.Identifier(function),
        sql.SQL(", ").join(sql.Placeholder() * len(args)),
    )

    return client.run(lambda conn: _one(conn, query, args))


def _one(conn: Connection, query: sql.Composed, args: tuple[Any, ...]) -> tuple[Any, ...]:
    row = conn.execute(query, args).fetchone()
    if row is None:
        raise ValueError(f"{query.as_string(conn)} answered no row")
    return tuple(row)


def release_lease_of(client: Client, lease_token: str) -> bool:
    """Give up the lease if ``lease_token`` still holds it; True if it did."""
    return _flag(call_function(client, "release", (lease_token,))[0])


def bury(client: Client, lease_token: str | None, run_prefix: str) -> bool:
    """For a runner proven dead: give up its lease (if it still holds) and stop counting its runs; True if released."""
    ttl_ms = int(client.settings.lease_ttl * 1000)
    return _flag(call_function(client, "bury", (lease_token or "", run_prefix, ttl_ms))[0])


def acquire_reply(row: tuple[Any, ...]) -> Acquired | HeldByOther:
    """acquire(): (acquired, term, token, remaining_ms, now_ms, discontinuity)."""
    acquired, term, token, remaining_ms, now_ms, discontinuity = row
    if _flag(acquired):
        return Acquired(_number(term), _text(token), _number(now_ms), _text(discontinuity))
    return HeldByOther(_text(token), _number(remaining_ms), _number(now_ms))


def renew_reply(row: tuple[Any, ...]) -> Renewal:
    """renew(): (renewed, now_ms, discontinuity)."""
    renewed, now_ms, discontinuity = row
    return Renewal(_flag(renewed), _number(now_ms), _text(discontinuity))


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected a boolean, got {shown(value)}")
    return value


def _number(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected a whole number, got {shown(value)}")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {shown(value)}")
    return value
