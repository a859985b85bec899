"""The PostgreSQL lease's tests: settings for a node against a test server, its schema migrated."""

from __future__ import annotations

from pg_support import PostgresServer

from scheduler_proc.coordination.postgres.conn import Client
from scheduler_proc.coordination.postgres.schema import migrate
from scheduler_proc.settings import PostgresSettings, Settings

#: The schema of every lease test (as SCHEDULER_NAMESPACE=lease gives it).
SCHEMA = "scheduler_lease"


def node_settings(server: PostgresServer, node: str, ttl: float = 1.0, more: dict[str, str] | None = None) -> Settings:
    """Node ``node``'s settings against ``server`` (the admin's URL unless ``more`` says), lease TTL ``ttl``,
    and the variables in ``more``; its schema migrated."""
    settings = Settings.from_env(
        {
            "SCHEDULER_POSTGRES_URL": server.url,
            "SCHEDULER_NAMESPACE": "lease",
            "SCHEDULER_NODE_ID": node,
            "SCHEDULER_LEASE_TTL": f"{ttl:g}",
            **(more or {}),
        }
    )
    client = Client(store(settings))
    try:
        migrate(client)
    finally:
        client.close()
    return settings


def store(settings: Settings) -> PostgresSettings:
    assert settings.postgres is not None
    return settings.postgres


def lease_row(server: PostgresServer) -> tuple[int, str, bool]:
    """(term, token, held now) of the lease row."""
    rows = server.psql(f"SELECT term, token, expires_at > clock_timestamp() FROM {SCHEMA}.lease")
    term, token, held = rows[0]
    return int(term), str(token), bool(held)


def floor_row(server: PostgresServer) -> tuple[int, str]:
    """(at_us, reason) of the floor row, as the ledger reads it."""
    rows = server.psql(f"SELECT at_us, reason FROM {SCHEMA}.floor")
    return int(rows[0][0]), str(rows[0][1])
