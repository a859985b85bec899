"""Picks the mode: host lock only (single host), or host lock plus a lease in Redis or PostgreSQL (cluster).

The only module that knows every backend. PostgreSQL's is imported only when configured: psycopg
is an optional dependency (the ``postgres`` extra).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Union

import redis
from redis.cluster import RedisCluster

from scheduler_proc import clock
from scheduler_proc.coordination.interfaces import CommandBus, Leadership, LeaseObserver, Ledger
from scheduler_proc.coordination.local.bus import LocalBus
from scheduler_proc.coordination.local.hostlock import Holder, HostLock
from scheduler_proc.coordination.local.leadership import HostLeadership
from scheduler_proc.coordination.local.ledger import LocalLedger
from scheduler_proc.coordination.local.nodestate import TermMemory
from scheduler_proc.coordination.records import HistoryLimits
from scheduler_proc.coordination.redis.bus import RedisBus
from scheduler_proc.coordination.redis.checks import check_server
from scheduler_proc.coordination.redis.conn import Client, call, connect
from scheduler_proc.coordination.redis.keys import Keys
from scheduler_proc.coordination.redis.lease import redis_leadership
from scheduler_proc.coordination.redis.leasecalls import parse_token
from scheduler_proc.coordination.redis.ledger import RedisLedger
from scheduler_proc.errors import StoreUnavailable
from scheduler_proc.formats.vocabulary import Mode
from scheduler_proc.securedir import ensure_private_dir
from scheduler_proc.settings import Settings

if TYPE_CHECKING:
    from scheduler_proc.coordination.postgres.conn import Client as PostgresClient

#: A connection to the cluster's store, shared by a process's ledger and bus.
StoreClient = Union[Client, "PostgresClient"]


@dataclass
class Backend:
    """What a runner coordinates through."""

    mode: Mode
    ledger: Ledger
    leadership: Leadership
    bus: CommandBus

    def floor_time(self) -> datetime:
        """The earliest time a job without a claim may resume from: the later of ours and the ledger's clock."""
        now = clock.now()
        try:
            return max(now, self.ledger.now())
        except StoreUnavailable:
            return now


def open_store(settings: Settings) -> StoreClient | None:
    """A connection to the cluster's store (opened lazily by its first call), or None on a single host."""
    if settings.redis is not None:
        return connect(settings.redis)
    if settings.postgres is not None:
        from scheduler_proc.coordination.postgres.conn import Client as PostgresClient

        return PostgresClient(settings.postgres, f"scheduler-proc/{settings.node_id}/reader")
    return None


def current_leader(settings: Settings, client: StoreClient) -> tuple[int, str] | None:
    """(term, node) of the lease in the store now, or None if no node holds it.

    Raises StoreUnavailable or StoreConfigError, and UnreadableData for a lease that is not the kit's.
    """
    if settings.redis is not None:
        assert isinstance(client, Client)
        key = Keys(settings.namespace).leader
        token = call(settings.redis, lambda: client.get(key))
        return None if token is None else parse_token(str(token), key)
    from scheduler_proc.coordination.postgres.conn import Client as PostgresClient
    from scheduler_proc.coordination.postgres.leader import current_leader as postgres_leader

    assert isinstance(client, PostgresClient)
    return postgres_leader(client)


def check_store(settings: Settings) -> bool:
    """At start, in cluster mode: StoreConfigError on refused credentials or TLS, or a store unfit to keep
    claims (PostgreSQL: read-only, or a role that cannot keep its schema; the schema is migrated here).

    False: PostgreSQL did not answer, so its schema is checked on the first lease call that reaches it.
    """
    if settings.redis is not None:
        check_server(settings, settings.redis)
    if settings.postgres is not None:
        from scheduler_proc.coordination.postgres.checks import check_server as check_postgres

        return check_postgres(settings.postgres, f"scheduler-proc/{settings.node_id}/check")
    return True


def release_abandoned(settings: Settings) -> None:
    """If the host lock is free and names a dead runner's lease or runs, release them in the store."""
    if settings.redis is not None:
        from scheduler_proc.coordination.redis import takeover

        takeover.release_abandoned(settings)
    elif settings.postgres is not None:
        from scheduler_proc.coordination.postgres import takeover as postgres_takeover

        postgres_takeover.release_abandoned(settings)


def release_for(settings: Settings, holder: Holder | None, who: str) -> None:
    """Release the lease (and stop counting the runs) a dead ``holder`` left in the store, if any."""
    if settings.redis is not None:
        from scheduler_proc.coordination.redis import takeover

        takeover.release_for(settings, holder, who)
    elif settings.postgres is not None:
        from scheduler_proc.coordination.postgres import takeover as postgres_takeover

        postgres_takeover.release_for(settings, holder, who)


def open_bus(settings: Settings, client: StoreClient | None = None) -> CommandBus:
    """The bus for this mode (the local directory is created 0700 next to the host lock)."""
    if settings.redis is not None:
        assert isinstance(client, (redis.Redis, RedisCluster))
        return RedisBus(settings.redis, client, Keys(settings.namespace))
    if settings.postgres is not None:
        from scheduler_proc.coordination.postgres.bus import PostgresBus

        return PostgresBus(settings.postgres, _postgres(client), f"scheduler-proc/{settings.node_id}/bus")
    directory = settings.lock_dir / f"{settings.namespace}.commands"
    return LocalBus(ensure_private_dir(directory, "SCHEDULER_LOCK_DIR"))


def open_ledger(settings: Settings, client: StoreClient | None = None, watched: bool = False) -> Ledger:
    """The ledger for this mode (readers such as the web workers and the CLI use it too).

    ``watched``: the runner's; trouble with the local ledger is reported to :mod:`scheduler_proc.problems`.
    """
    history = HistoryLimits(settings.history_size, settings.history_failures_size)
    if settings.postgres is not None:
        from scheduler_proc.coordination.postgres.ledger import PostgresLedger

        return PostgresLedger(settings.postgres, _postgres(client), settings.claim_retention, history)
    if settings.redis is None:
        return LocalLedger(settings.ledger_path, settings.claim_retention, history, watched)
    redis_client = client or connect(settings.redis)
    assert isinstance(redis_client, (redis.Redis, RedisCluster))
    return RedisLedger(settings.redis, redis_client, Keys(settings.namespace), settings.claim_retention, history)


def open_backend(
    settings: Settings, lock: HostLock, metrics: LeaseObserver, healthy: Callable[[], bool] = lambda: True
) -> Backend:
    """The ledger, leadership and command bus for this mode."""
    if settings.postgres is not None:
        return _postgres_backend(settings, lock, metrics, healthy)
    if settings.redis is None:
        return Backend("single-host", open_ledger(settings, watched=True), HostLeadership(lock), open_bus(settings))
    client = connect(settings.redis)
    keys = Keys(settings.namespace)
    return Backend(
        "cluster",
        open_ledger(settings, client),
        redis_leadership(
            settings.redis,
            client,
            keys,
            settings.node_id,
            metrics=metrics,
            memory=TermMemory(settings.terms_path),
            on_lease=lock.record_lease,
            healthy=healthy,
        ),
        open_bus(settings, client),
    )


def _postgres(client: StoreClient | None) -> PostgresClient:
    from scheduler_proc.coordination.postgres.conn import Client as PostgresClient

    assert isinstance(client, PostgresClient), "a PostgreSQL client (open_store) for SCHEDULER_POSTGRES_URL"
    return client


def _postgres_backend(
    settings: Settings, lock: HostLock, metrics: LeaseObserver, healthy: Callable[[], bool]
) -> Backend:
    """The runner's PostgreSQL backend: one client (a connection per thread) for the ledger and the lease."""
    from scheduler_proc.coordination.postgres.checks import SchemaGate
    from scheduler_proc.coordination.postgres.conn import Client as PostgresClient
    from scheduler_proc.coordination.postgres.lease import postgres_leadership

    assert settings.postgres is not None
    client = PostgresClient(settings.postgres, f"scheduler-proc/{settings.node_id}/runner")
    gate = SchemaGate(settings.postgres, f"scheduler-proc/{settings.node_id}/check")
    return Backend(
        "cluster",
        open_ledger(settings, client),
        postgres_leadership(
            settings,
            client,
            metrics=metrics,
            memory=TermMemory(settings.terms_path),
            on_lease=lock.record_lease,
            healthy=healthy,
            ready=gate.ensure,
        ),
        open_bus(settings, client),
    )
