"""The ledger's and the bus's statements on one client: the app's schema put in, composed once, and
every error of psycopg's mapped to the kit's (so a caller catches only StoreUnavailable and
StoreConfigError)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from scheduler_proc.coordination.postgres.conn import Client, Connection
from scheduler_proc.errors import PostgresUnavailable
from scheduler_proc.redact import redact

T = TypeVar("T")


class Statements:
    """Statements with ``{schema}`` in their text, run on ``client``."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._schema = sql.Identifier(client.settings.schema)
        self._composed: dict[str, sql.Composed] = {}

    def compose(self, text: str) -> sql.Composed:
        """``text`` with the app's schema in place of ``{schema}`` (composed once per text)."""
        composed = self._composed.get(text)
        if composed is None:
            composed = self._composed[text] = sql.SQL(text).format(schema=self._schema)
        return composed

    def run(self, action: Callable[[Connection], T]) -> T:
        """``client.run``, with what it leaves unmapped (a deadlock broken, a value refused) as unavailable."""
        try:
            return self.client.run(action)
        except psycopg.Error as exc:
            raise PostgresUnavailable(
                f"PostgreSQL at {self.client.settings.target} failed a statement "
                f"({redact(' '.join(str(exc).split()))[:200]})"
            ) from None

    def rows(self, text: str, params: Any = None) -> list[tuple[Any, ...]]:
        """The rows of one statement: none for one that returns none (an INSERT), one row of NULL
        for a function that returns nothing."""
        statement = self.compose(text)

        def execute(conn: Connection) -> list[tuple[Any, ...]]:
            cursor = conn.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

        return self.run(execute)
