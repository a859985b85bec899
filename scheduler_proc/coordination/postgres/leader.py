"""Who leads now, read from the lease row (the readiness check and the CLI's ``check``)."""

from __future__ import annotations

from psycopg import sql

from scheduler_proc.coordination.postgres.conn import Client, Connection
from scheduler_proc.errors import UnreadableData


def current_leader(client: Client) -> tuple[int, str] | None:
    """(term, node) of the lease if a node holds it by the database's clock, else None."""
    schema = client.settings.schema

    def read(conn: Connection) -> tuple[int, str] | None:
        row = conn.execute(
            sql.SQL("SELECT term, node FROM {}.lease WHERE id = 1 AND expires_at > clock_timestamp()").format(
                sql.Identifier(schema)
            )
        ).fetchone()
        if row is None:
            return None
        term, node = row
        if not isinstance(term, int) or not isinstance(node, str) or not node:
            raise UnreadableData(f"{schema}.lease", f"the lease row of {schema} is not the kit's ({row!r})")
        return term, node

    return client.run(read)
