"""The PostgreSQL backend's checks at start: the server takes writes, and the kit's schema is
there at the version this kit knows (created or migrated now, if the role may).

A refusal raises ``PostgresConfigError`` with the fix. A server that does not answer is not an
error here: the runner waits as standby, and the check runs again once it answers.
"""

from __future__ import annotations

import threading

import psycopg
from psycopg import sql

from scheduler_proc.coordination.postgres import schema
from scheduler_proc.coordination.postgres.conn import Client, Connection
from scheduler_proc.errors import PostgresConfigError, PostgresUnavailable
from scheduler_proc.redact import redact
from scheduler_proc.settings import PostgresSettings

#: SQLSTATE of a refused privilege, and of a write refused by a read-only transaction.
_INSUFFICIENT_PRIVILEGE = "42501"
_READ_ONLY = "25006"


def check_server(settings: PostgresSettings, application_name: str = "scheduler-proc/check") -> bool:
    """Refuse a read-only server or a role that cannot keep the schema; migrate it. False: no answer.

    Raises PostgresConfigError (refused login or TLS, read-only, privileges, a schema a newer
    kit migrated), each with the fix.
    """
    client = Client(settings, application_name)
    try:
        client.run(lambda conn: refuse_read_only(settings, conn))
        migrate(client)
    except PostgresUnavailable:
        return False
    finally:
        client.close()
    return True


class SchemaGate:
    """Checks the server and migrates the schema once, on the first call that finds it up.

    A node that started while PostgreSQL was down (``check_server`` answered False) migrates on
    its first lease call once the server answers; until then that call fails as unreachable.
    """

    def __init__(self, settings: PostgresSettings, application_name: str, done: bool = False) -> None:
        self._settings = settings
        self._application_name = application_name
        self._done = done
        self._lock = threading.Lock()

    def ensure(self) -> None:
        """Return once the schema is known migrated; PostgresUnavailable or PostgresConfigError otherwise."""
        if self._done:
            return
        with self._lock:
            if not self._done and not check_server(self._settings, self._application_name):
                raise PostgresUnavailable(
                    f"PostgreSQL at {self._settings.target} is unreachable (its schema is checked once it answers)"
                )
            self._done = True


def refuse_read_only(settings: PostgresSettings, conn: Connection) -> None:
    """A standby in recovery, or a server or role whose transactions default to read-only, cannot
    keep claims: say which, and the fix."""
    row = conn.execute("SELECT pg_is_in_recovery(), current_setting('transaction_read_only')").fetchone()
    if row is None:  # pragma: no cover  (a SELECT of two values returns one row)
        return
    in_recovery, read_only = row
    if in_recovery:
        raise PostgresConfigError(
            f"PostgreSQL at {settings.target} is a standby in recovery (read-only); point SCHEDULER_POSTGRES_URL "
            "at the primary (with several hosts in the URL, add target_session_attrs=read-write)"
        )
    if read_only == "on":
        raise PostgresConfigError(
            f"PostgreSQL at {settings.target} opens read-only transactions (default_transaction_read_only is on); "
            "the kit writes its claims there: turn it off for the kit's role (ALTER ROLE <user> SET "
            "default_transaction_read_only = off) or on the server, or point SCHEDULER_POSTGRES_URL at a "
            "writable primary"
        )


def migrate(client: Client) -> int:
    """``schema.migrate``, with a privilege or read-only refusal turned into the fix; returns the version found."""
    settings = client.settings
    try:
        return schema.migrate(client)
    except psycopg.Error as exc:
        state = exc.sqlstate or ""
        if state == _INSUFFICIENT_PRIVILEGE:
            raise PostgresConfigError(privilege_fix(settings, client, exc.diag.message_primary or str(exc))) from None
        if state == _READ_ONLY:
            raise PostgresConfigError(
                f"PostgreSQL at {settings.target} refused to write the kit's schema in a read-only "
                "transaction; point SCHEDULER_POSTGRES_URL at a writable primary"
            ) from None
        said = redact(" ".join(str(exc).split()))
        if isinstance(exc, psycopg.OperationalError):  # the connection or a lock wait gave out
            raise PostgresUnavailable(
                f"PostgreSQL at {settings.target} did not finish the migration ({said})"
            ) from None
        raise PostgresConfigError(
            f"PostgreSQL at {settings.target} refused the migration of the kit's schema {settings.schema} ({said}); "
            "see the privileges the kit needs in docs/postgres.md"
        ) from None


def privilege_fix(settings: PostgresSettings, client: Client, said: str) -> str:
    """What to grant: an admin creates the schema for the kit's role, or gives the schema to it."""
    try:
        user, database, owner = client.run(
            lambda conn: (
                conn.execute(
                    "SELECT current_user, current_database(), "
                    "(SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = %s)",
                    [settings.schema],
                ).fetchone()
                or ("<user>", "<database>", None)
            )
        )
    except (PostgresUnavailable, PostgresConfigError):
        user, database, owner = "<user>", "<database>", None
    name, role = sql.Identifier(settings.schema).as_string(), sql.Identifier(str(user)).as_string()
    if owner is None:
        fix = (
            f"as an admin, create it for the kit's role: CREATE SCHEMA {name} AUTHORIZATION {role} "
            f"(or let the role create it: GRANT CREATE ON DATABASE {sql.Identifier(str(database)).as_string()} "
            f"TO {role})"
        )
    else:
        fix = f"as an admin, give it to the kit's role: ALTER SCHEMA {name} OWNER TO {role}"
    return (
        f"PostgreSQL at {settings.target} refused to create or migrate the kit's schema {settings.schema} "
        f"({said}); {fix}; see the privileges the kit needs in docs/postgres.md"
    )
