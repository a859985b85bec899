"""PostgreSQL connections for cluster mode: one per thread, short timeouts, and clear errors.

psycopg is an optional dependency (the ``postgres`` extra): importing this module without it
raises a ``PostgresConfigError`` that says how to install it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from scheduler_proc.coordination.postgres.deadline import answer_deadline, deadline
from scheduler_proc.errors import PostgresConfigError, PostgresUnavailable
from scheduler_proc.redact import redact
from scheduler_proc.settings import PostgresSettings

try:
    import psycopg
    from psycopg import sql
except ImportError as exc:  # pragma: no cover  (the test extra installs it)
    raise PostgresConfigError(
        "SCHEDULER_POSTGRES_URL is set but psycopg is not installed; install the kit with its postgres extra: "
        "pip install 'scheduler-proc[postgres]'"
    ) from exc

T = TypeVar("T")
Connection = psycopg.Connection[Any]

#: SQLSTATE classes that say the server refused us for good (auth, privileges, a read-only
#: server, a missing database): not worth retrying until someone changes a setting.
_REFUSALS = ("28", "42501", "25006", "3D000", "3F000", "42P01", "42883")


def connect(settings: PostgresSettings, application_name: str = "scheduler-proc") -> Connection:
    """One autocommit connection with timeouts sized to the lease (a hung call cannot outlive it)."""
    timeout_ms = int(settings.socket_timeout * 1000)
    options: dict[str, Any] = {
        "autocommit": True,
        "connect_timeout": max(1, round(settings.socket_timeout)),
        "application_name": application_name,
        # statement_timeout bounds a statement's time on the server (a lock wait included);
        # tcp_user_timeout and the keepalives bound a server that stopped answering.
        # synchronous_commit: a claim is on disk before the fire runs, whatever the server's default.
        "options": f"-c statement_timeout={timeout_ms} -c lock_timeout={timeout_ms} "
        f"-c idle_in_transaction_session_timeout={4 * timeout_ms} -c synchronous_commit=on",
        "tcp_user_timeout": timeout_ms,
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 1,
        "keepalives_count": 3,
    }
    if settings.password is not None:
        options["password"] = settings.password
    try:
        return psycopg.connect(settings.url, **options)
    except psycopg.OperationalError as exc:
        raise _connect_error(settings, exc) from None
    except psycopg.ProgrammingError as exc:  # a URL libpq cannot parse
        raise PostgresConfigError(
            f"SCHEDULER_POSTGRES_URL={settings.target!r} is not a connection URL libpq reads ({_said(exc)}); "
            "use postgresql://user@host:5432/dbname"
        ) from None


def _connect_error(settings: PostgresSettings, exc: psycopg.OperationalError) -> Exception:
    """Refused (credentials, TLS, no such database): a config error with the fix; else unavailable."""
    said = _said(exc)
    lowered = said.lower()
    if "password authentication failed" in lowered or "no password supplied" in lowered or "no pg_hba.conf" in lowered:
        return PostgresConfigError(
            f"PostgreSQL at {settings.target} refused the login ({said}); check the user in SCHEDULER_POSTGRES_URL "
            "and SCHEDULER_POSTGRES_PASSWORD, and the server's pg_hba.conf"
        )
    if "certificate" in lowered or "ssl" in lowered:
        return PostgresConfigError(
            f"TLS to PostgreSQL at {settings.target} failed ({said}); with sslmode=verify-full, give the CA that "
            "signed the server's certificate as sslrootcert=/path/ca.pem in SCHEDULER_POSTGRES_URL, and connect "
            "by the name the certificate carries"
        )
    if "does not exist" in lowered:
        return PostgresConfigError(
            f"PostgreSQL at {settings.target} says: {said}; create it, or name one that exists in "
            "SCHEDULER_POSTGRES_URL"
        )
    return PostgresUnavailable(f"PostgreSQL at {settings.target} is unreachable ({said})")


def _said(exc: BaseException) -> str:
    """The server's or libpq's message in one masked line."""
    return redact(" ".join(str(exc).split()))


def refused(exc: psycopg.Error) -> bool:
    """True when the server refused the statement for good (privileges, read-only, a missing object)."""
    state = exc.sqlstate or ""
    return any(state.startswith(code) for code in _REFUSALS)


class Client:
    """Connections to one PostgreSQL, one per thread (a slow call on one thread never holds up another).

    ``run`` gives a callable a live connection and maps psycopg's errors: a dropped or
    unreachable server is ``PostgresUnavailable`` (the connection is dropped, the next call
    connects again); a refusal is ``PostgresConfigError`` naming the fix.
    """

    def __init__(self, settings: PostgresSettings, application_name: str = "scheduler-proc") -> None:
        self.settings = settings
        self._application_name = application_name
        self._local = threading.local()
        self._all: list[Connection] = []
        self._all_lock = threading.Lock()

    def _connection(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = connect(self.settings, self._application_name)
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def run(self, action: Callable[[Connection], T]) -> T:
        """``action(connection)``, with psycopg's errors mapped (see the class docstring)."""
        conn = self._connection()
        waited = answer_deadline(self.settings)
        cut = threading.Event()
        try:
            with deadline(conn, waited) as cut:
                return action(conn)
        except psycopg.Error as exc:
            if refused(exc):
                raise PostgresConfigError(
                    f"PostgreSQL at {self.settings.target} refused a statement ({_said(exc)}); "
                    "see the privileges the kit needs in docs/postgres.md"
                ) from None
            if isinstance(exc, psycopg.OperationalError) or conn.closed or conn.broken:
                self._drop(conn)
                said = f"no answer within {waited:g}s" if cut.is_set() else _said(exc)
                raise PostgresUnavailable(f"PostgreSQL at {self.settings.target} did not answer ({said})") from None
            raise

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection inside one transaction (committed on leaving, rolled back on an error)."""
        conn = self._connection()
        with conn.transaction():
            yield conn

    def _drop(self, conn: Connection) -> None:
        try:
            conn.close()
        finally:
            if getattr(self._local, "conn", None) is conn:
                self._local.conn = None

    def close(self) -> None:
        with self._all_lock:
            connections, self._all = self._all, []
        for conn in connections:
            conn.close()


def identifier(name: str) -> sql.Identifier:
    """A schema or channel name, quoted for SQL (the settings allow only plain lowercase names)."""
    return sql.Identifier(name)
