"""The cluster stores (Redis, PostgreSQL) behind one face, so that a test of the Ledger or
CommandBus interface runs against each (the ``ledger_factory`` fixture, param redis|postgres).

Each kit makes ledgers and buses on one real server, takes and gives up the lease, and reaches
into the store for what a test must arrange or check (a floor, a dead process, a running
marker, a command that aged).
"""

from __future__ import annotations

import abc
import json
import time
from datetime import datetime
from typing import Any

from pg_support import PostgresServer
from psycopg import sql
from redis_support import RedisServer

from scheduler_proc.coordination.interfaces import CommandBus, Ledger
from scheduler_proc.coordination.lease.leadership import ClusterLeadership
from scheduler_proc.coordination.postgres import schema
from scheduler_proc.coordination.postgres.bus import PostgresBus
from scheduler_proc.coordination.postgres.conn import Client
from scheduler_proc.coordination.postgres.lease import postgres_leadership
from scheduler_proc.coordination.postgres.leasecalls import bury
from scheduler_proc.coordination.postgres.ledger import PostgresLedger
from scheduler_proc.coordination.records import DEFAULT_HISTORY, Command, HistoryLimits, to_micros
from scheduler_proc.coordination.redis.bus import RedisBus
from scheduler_proc.coordination.redis.conn import connect
from scheduler_proc.coordination.redis.keys import Keys
from scheduler_proc.coordination.redis.lease import redis_leadership
from scheduler_proc.coordination.redis.ledger import RedisLedger
from scheduler_proc.coordination.term import Term
from scheduler_proc.formats.commands import encode_command_entry
from scheduler_proc.settings import PostgresSettings, Settings

#: The namespace (Redis) and schema (PostgreSQL) the kits work in.
NAMESPACE = "kit"


def postgres_settings(
    server: PostgresServer, schema: str = NAMESPACE, url: str | None = None, ttl: float = 2
) -> PostgresSettings:
    """The kit's settings for ``server`` (as its admin, unless ``url`` names another role), lease TTL ``ttl``."""
    found = Settings.from_env(
        {
            "SCHEDULER_POSTGRES_URL": url or server.url,
            "SCHEDULER_POSTGRES_SCHEMA": schema,
            "SCHEDULER_LEASE_TTL": f"{ttl:g}",
        }
    ).postgres
    assert found is not None
    return found


class StoreKit(abc.ABC):
    """Ledgers, buses and the lease on one store; closes what it made."""

    name: str

    @abc.abstractmethod
    def ledger(self, retention: float = 3600, history: HistoryLimits = DEFAULT_HISTORY) -> Ledger: ...

    @abc.abstractmethod
    def bus(self) -> CommandBus: ...

    @abc.abstractmethod
    def lead(self, node: str) -> Term:
        """Take the lease (nobody may hold it): a term whose claims count, and no floor in the way."""

    @abc.abstractmethod
    def release(self, node: str) -> None:
        """Give up the lease ``node`` took."""

    @abc.abstractmethod
    def set_floor(self, at: datetime, reason: str) -> None: ...

    @abc.abstractmethod
    def bury(self, run_prefix: str) -> None:
        """Mark a process dead (takeover's bury): its running markers stop counting."""

    @abc.abstractmethod
    def has_marker(self, job_id: str, run_id: str) -> bool:
        """Whether a live running marker of the run is kept."""

    @abc.abstractmethod
    def lose_markers(self, job_id: str) -> None:
        """The store loses the job's running markers (Redis restarted without them; a restore)."""

    @abc.abstractmethod
    def submit_aged(self, command: Command, age: float) -> None:
        """Queue ``command`` as if submitted ``age`` seconds ago (on an empty bus)."""

    @abc.abstractmethod
    def close(self) -> None: ...


class RedisKit(StoreKit):
    name = "redis"

    def __init__(self, server: RedisServer) -> None:
        found = Settings.from_env({"SCHEDULER_REDIS_URL": server.url, "SCHEDULER_LEASE_TTL": "2"}).redis
        assert found is not None
        self.settings, self.server, self.keys = found, server, Keys(NAMESPACE)
        self._made: list[Any] = []
        self._leaders: dict[str, ClusterLeadership] = {}

    def ledger(self, retention: float = 3600, history: HistoryLimits = DEFAULT_HISTORY) -> Ledger:
        client = connect(self.settings)
        self._made.append(client)
        return RedisLedger(self.settings, client, self.keys, retention, history)

    def bus(self) -> CommandBus:
        client = connect(self.settings)
        self._made.append(client)
        return RedisBus(self.settings, client, self.keys)

    def lead(self, node: str) -> Term:
        leadership = redis_leadership(self.settings, connect(self.settings), self.keys, node)
        leadership.tick()
        term = leadership.current_term()
        assert term is not None, f"{node} should lead"
        self._leaders[node] = leadership
        self.server.client().hset(self.keys.floor, "at", 0)  # a fresh Redis's first lease sets one
        return term

    def release(self, node: str) -> None:
        self._leaders.pop(node).release()

    def set_floor(self, at: datetime, reason: str) -> None:
        self.server.client().hset(self.keys.floor, mapping={"at": to_micros(at) // 1000, "reason": reason})

    def bury(self, run_prefix: str) -> None:
        self.server.client().sadd(self.keys.dead, run_prefix)

    def has_marker(self, job_id: str, run_id: str) -> bool:
        return self.server.client().zscore(self.keys.running(job_id), run_id) is not None

    def lose_markers(self, job_id: str) -> None:
        self.server.client().delete(self.keys.running(job_id))

    def submit_aged(self, command: Command, age: float) -> None:
        fields: dict[Any, Any] = encode_command_entry(command.fields())
        self.server.client().xadd(self.keys.commands, fields, id=f"{int((time.time() - age) * 1000)}-0")

    def close(self) -> None:
        for leadership in self._leaders.values():
            leadership.release()
        for client in self._made:
            client.close()


class PostgresKit(StoreKit):
    name = "postgres"

    def __init__(self, server: PostgresServer, ttl: float = 2) -> None:
        found = postgres_settings(server, ttl=ttl)
        self.settings, self.server = found, server
        self.admin = Client(found, "scheduler-proc/test")
        schema.migrate(self.admin)
        self._made: list[Client] = [self.admin]
        self._buses: list[PostgresBus] = []
        self._leaders: dict[str, ClusterLeadership] = {}

    def _client(self) -> Client:
        client = Client(self.settings, "scheduler-proc/test")
        self._made.append(client)
        return client

    def ledger(self, retention: float = 3600, history: HistoryLimits = DEFAULT_HISTORY) -> Ledger:
        return PostgresLedger(self.settings, self._client(), retention, history)

    def bus(self) -> CommandBus:
        bus = PostgresBus(self.settings, self._client())
        self._buses.append(bus)
        return bus

    def execute(self, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
        """``statement`` with ``{schema}`` in it, as the kit's role."""
        composed = sql.SQL(statement).format(schema=sql.Identifier(NAMESPACE))

        def run(conn: Any) -> list[tuple[Any, ...]]:
            cursor = conn.execute(composed, params)
            return list(cursor.fetchall()) if cursor.description else []

        return self.admin.run(run)

    def lead(self, node: str) -> Term:
        settings = Settings.from_env(
            {
                "SCHEDULER_POSTGRES_URL": self.server.url,
                "SCHEDULER_POSTGRES_SCHEMA": NAMESPACE,
                "SCHEDULER_LEASE_TTL": f"{self.settings.lease_ttl:g}",
                "SCHEDULER_NODE_ID": node,
            }
        )
        leadership = postgres_leadership(settings, self._client())
        leadership.tick()
        term = leadership.current_term()
        assert term is not None, f"{node} should lead"
        self._leaders[node] = leadership
        self.execute("UPDATE {schema}.floor SET at_us = 0")  # a schema's first lease sets one
        return term

    def release(self, node: str) -> None:
        self._leaders.pop(node).release()

    def set_floor(self, at: datetime, reason: str) -> None:
        self.execute(
            "INSERT INTO {schema}.floor VALUES (1, %s, 0, %s) "
            "ON CONFLICT (id) DO UPDATE SET at_us = excluded.at_us, reason = excluded.reason",
            [to_micros(at), reason],
        )

    def bury(self, run_prefix: str) -> None:
        bury(self.admin, None, run_prefix)

    def has_marker(self, job_id: str, run_id: str) -> bool:
        return bool(
            self.execute(
                "SELECT 1 FROM {schema}.running WHERE job_id = %s AND run_id = %s AND alive_until > clock_timestamp()",
                [job_id, run_id],
            )
        )

    def lose_markers(self, job_id: str) -> None:
        self.execute("DELETE FROM {schema}.running WHERE job_id = %s", [job_id])

    def submit_aged(self, command: Command, age: float) -> None:
        self.execute(
            "INSERT INTO {schema}.commands (issued_at, fields) "
            "VALUES (clock_timestamp() - %s * interval '1 second', %s::jsonb)",
            [age, json.dumps(encode_command_entry(command.fields()))],
        )

    def close(self) -> None:
        for leadership in self._leaders.values():
            leadership.release()
        for bus in self._buses:
            bus.close()
        for client in self._made:
            client.close()
