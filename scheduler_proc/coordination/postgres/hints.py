"""LISTEN/NOTIFY channels of one app's schema, used as hints only: a notice makes a waiting
process look now, and a lost one (a dropped connection, a restart) only delays it to its next
regular look. Nothing a process must not miss travels here: commands are in their table.

Listening costs a connection of its own (autocommit, idle between looks), not a statement per look.
"""

from __future__ import annotations

import contextlib

import psycopg
from psycopg import sql

from scheduler_proc.coordination.postgres.conn import Connection, connect
from scheduler_proc.errors import StoreConfigError, StoreUnavailable
from scheduler_proc.settings import PostgresSettings

#: PostgreSQL's longest identifier, in bytes (NAMEDATALEN - 1): a channel name is one.
_LONGEST_NAME = 63


def channel(schema: str, purpose: str) -> str:
    """``<schema>_<purpose>``, the schema part cut so that the name fits an identifier."""
    return f"{schema[: _LONGEST_NAME - len(purpose) - 1]}_{purpose}"


class Hints:
    """One channel, listened to on first use; any trouble closes the connection (the next look listens again)."""

    def __init__(self, settings: PostgresSettings, purpose: str, application_name: str) -> None:
        self._settings = settings
        self.channel = channel(settings.schema, purpose)
        self._application_name = application_name
        self._conn: Connection | None = None

    def heard(self) -> bool:
        """True if a notice came since the last call, or when the connection cannot tell (it was
        just made, or broke): then the caller looks anyway. Never blocks."""
        try:
            if self._conn is None:
                self._listen()
                return True
            heard = False
            for _ in self._conn.notifies(timeout=0):
                heard = True
            return heard
        except (psycopg.Error, StoreUnavailable, StoreConfigError, OSError):
            self.close()
            return True

    def _listen(self) -> None:
        conn = connect(self._settings, self._application_name)
        try:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                conn.close()
