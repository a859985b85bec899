"""The kit's schema in PostgreSQL: created and migrated by the kit itself, one schema per app.

Each version is a list of SQL files in ``sql/`` (tables and the server-side functions that
keep the guarantees); ``{schema}`` in them is the app's schema, quoted. A migration runs in
one transaction under an advisory lock, so two nodes starting at once migrate once, and a
node of an older version refuses a schema a newer one migrated (it would not know its rules).
"""

from __future__ import annotations

from importlib.resources import files

from psycopg import sql

from scheduler_proc.coordination.postgres.conn import Client, Connection
from scheduler_proc.errors import PostgresConfigError

#: Every version and the files that bring the schema from the one before to it.
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = ((1, ("lease.sql", "ledger.sql", "bus.sql")),)
VERSION = MIGRATIONS[-1][0]
#: Seconds a migration (and a node waiting for another's) may take: it runs once, at start.
MIGRATION_TIMEOUT = 30


def source(name: str, schema: str) -> sql.Composed:
    """One SQL file with the schema's quoted name in place of ``{schema}``."""
    text = files("scheduler_proc.coordination.postgres").joinpath("sql", name).read_text("utf-8")
    return sql.SQL(text).format(schema=sql.Identifier(schema))


def migrate(client: Client) -> int:
    """Bring the schema to ``VERSION`` (creating it if needed); return the version it was at."""
    schema = client.settings.schema
    with client.transaction() as conn:
        # The connection's timeouts are sized to the lease (a quarter of its TTL): a node that waits
        # while another migrates, or a migration on a slow disk, would time out and try again.
        conn.execute(f"SET LOCAL lock_timeout = '{MIGRATION_TIMEOUT}s'")
        conn.execute(f"SET LOCAL statement_timeout = '{MIGRATION_TIMEOUT}s'")
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"scheduler-proc:{schema}"])
        # IF NOT EXISTS alone would still need CREATE on the database, which a role given its
        # schema by a DBA (CREATE SCHEMA ... AUTHORIZATION) does not have.
        if conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema]).fetchone() is None:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(
            sql.SQL("CREATE TABLE IF NOT EXISTS {}.schema_version (version integer NOT NULL)").format(
                sql.Identifier(schema)
            )
        )
        found = _version(conn, schema)
        if found > VERSION:
            raise PostgresConfigError(
                f"the PostgreSQL schema {schema} is at version {found}, newer than this kit knows ({VERSION}); "
                "upgrade scheduler-proc on this host to the version the other hosts run"
            )
        for version, names in MIGRATIONS:
            if version > found:
                for name in names:
                    conn.execute(source(name, schema))
        if found < VERSION:
            conn.execute(sql.SQL("DELETE FROM {}.schema_version").format(sql.Identifier(schema)))
            conn.execute(sql.SQL("INSERT INTO {}.schema_version VALUES (%s)").format(sql.Identifier(schema)), [VERSION])
    return found


def _version(conn: Connection, schema: str) -> int:
    row = conn.execute(sql.SQL("SELECT max(version) FROM {}.schema_version").format(sql.Identifier(schema))).fetchone()
    return int(row[0]) if row and row[0] is not None else 0
