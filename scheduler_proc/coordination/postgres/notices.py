"""LISTEN/NOTIFY channels used as hints only: a notice makes a waiting process look now, and a lost
one (a dropped connection, a restart) only delays it to its next regular look.

Nothing a process must not miss travels here: the handover is in the lease row, commands in their
table. Listening costs a connection of its own (autocommit, nothing else runs on it), not a
statement per look.
"""

from __future__ import annotations

import contextlib
import time

import psycopg
from psycopg import sql

from scheduler_proc.coordination.postgres.conn import Connection, connect
from scheduler_proc.coordination.postgres.deadline import answer_deadline, deadline
from scheduler_proc.errors import StoreConfigError, StoreUnavailable
from scheduler_proc.settings import PostgresSettings

#: PostgreSQL's longest identifier, in bytes: a channel name is one.
_LONGEST_NAME = 63

#: How long a broken listener waits before it tries to connect again (the caller polls meanwhile).
_RETRY_AFTER = 0.5


def channel_name(schema: str, kind: str) -> str:
    """'<schema>_<kind>', the schema's part cut so the name fits (as ``<schema>.channel(kind)`` in sql/lease.sql)."""
    return f"{schema[: _LONGEST_NAME - 1 - len(kind)]}_{kind}"


class _Listener:
    """One channel of the schema, listened to on a connection of its own, opened on first use; any
    trouble closes that connection (the next look listens again)."""

    def __init__(self, settings: PostgresSettings, kind: str, application_name: str) -> None:
        self._settings = settings
        self._application_name = application_name
        self._channel = channel_name(settings.schema, kind)
        self._conn: Connection | None = None

    def _listening(self) -> Connection:
        if self._conn is None or self._conn.closed:
            conn = connect(self._settings, self._application_name)
            try:
                with deadline(conn, answer_deadline(self._settings)):
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
            except psycopg.Error:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                conn.close()


class HandoverNotices(_Listener):
    """The handover channel: how a sleeping standby hears at once of a released lease.

    Without it a standby would poll; with it, it sends one statement per lease TTL at idle.
    Any trouble with the connection just makes ``wait`` sleep instead (the caller polls).
    """

    def __init__(self, settings: PostgresSettings, application_name: str) -> None:
        super().__init__(settings, "handover", application_name)

    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds; True if a handover notice came."""
        deadline = time.monotonic() + timeout
        try:
            conn = self._listening()
            return any(True for _ in conn.notifies(timeout=max(0.0, deadline - time.monotonic()), stop_after=1))
        except (psycopg.Error, StoreUnavailable, StoreConfigError, OSError):
            self.close()
            time.sleep(max(0.0, min(deadline - time.monotonic(), _RETRY_AFTER)))
            return False


class CommandNotices(_Listener):
    """The commands' channel, looked at without blocking by the leader's loop (see bus.py)."""

    def __init__(self, settings: PostgresSettings, application_name: str) -> None:
        super().__init__(settings, "commands", application_name)

    def heard(self) -> bool:
        """True if a notice came since the last look, or when the connection cannot tell (it was
        just made, or broke): then the caller reads anyway. Never blocks."""
        try:
            if self._conn is None or self._conn.closed:
                self._listening()
                return True
            heard = False
            for _ in self._conn.notifies(timeout=0):  # every one waiting, not only the first
                heard = True
            return heard
        except (psycopg.Error, StoreUnavailable, StoreConfigError, OSError):
            self.close()
            return True
