"""Picks the mode: host lock only (single host) or host lock plus Redis lease (cluster)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import redis

from scheduler_proc import clock
from scheduler_proc.contracts import ClusterStatus, Mode
from scheduler_proc.coordination.bus import CommandBus, open_bus
from scheduler_proc.coordination.hostlock import HostLock
from scheduler_proc.coordination.keys import Keys
from scheduler_proc.coordination.lease import ClusterLeadership, LeaseObserver
from scheduler_proc.coordination.ledger import HistoryLimits, Ledger, LocalLedger
from scheduler_proc.coordination.nodestate import TermMemory
from scheduler_proc.coordination.redis_conn import ACL_NEEDED, Client, call, connect
from scheduler_proc.coordination.redis_ledger import RedisLedger
from scheduler_proc.coordination.term import Term
from scheduler_proc.errors import RedisConfigError, RedisUnavailable
from scheduler_proc.identity import TEMPLATE_NAMESPACE
from scheduler_proc.settings import RedisSettings, Settings

log = logging.getLogger("scheduler.backend")


class Leadership(Protocol):
    """May this runner dispatch fires, and under which term."""

    @property
    def leading(self) -> bool:
        """True while this node may claim fires (the host lock, and in a cluster a lease still valid)."""
        ...

    def start(self) -> None:
        """Begin competing for leadership (idempotent)."""
        ...

    def tick(self) -> None:
        """Do what is due now: renew, try to acquire, step down."""
        ...

    def current_term(self) -> Term | None:
        """The term to claim fires under, or None when not leading."""
        ...

    def release(self) -> None:
        """Step down at once and hand the lease over (a stop, a hang, a lost host lock)."""
        ...

    def status(self) -> ClusterStatus:
        """What this node knows of the cluster, for the status file."""
        ...


class HostLeadership:
    """Single-host mode: holding the host lock is leading."""

    def __init__(self, lock: HostLock) -> None:
        self._lock = lock

    @property
    def leading(self) -> bool:
        return self._lock.still_valid()

    def start(self) -> None:
        """Nothing to keep: the kernel keeps the flock while we live."""

    def tick(self) -> None:
        """Nothing to renew."""

    def current_term(self) -> Term | None:
        return Term(token=None, is_current=self._lock.still_valid) if self.leading else None

    def release(self) -> None:
        """The host lock itself is released by the runner."""

    def status(self) -> ClusterStatus:
        return {}


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
        except RedisUnavailable:
            return now


def check_redis(settings: Settings) -> None:
    """At start: raise RedisConfigError on refused credentials or TLS.

    Redis being down is not an error: the runner waits as standby, and the lease logs
    that state once (so it is not logged here too).
    """
    if settings.redis is None:
        return
    client = connect(settings.redis)
    try:
        call(settings.redis, client.ping)
        check_info_in_scripts(settings.redis, client, Keys(settings.namespace))
        check_eviction_policy(settings.redis, client)
        warn_of_the_old_default_namespace(settings, client)
    except RedisUnavailable:
        pass
    finally:
        client.close()


def warn_of_the_old_default_namespace(settings: Settings, client: Client) -> None:
    """Before 0.2 every app's default namespace was ``scheduler``. A project that upgrades host by
    host, with a namespace now derived from its jobs module, would lead twice meanwhile (once per
    namespace) and run each fire twice: say so when the old namespace has a leader."""
    if settings.redis is None or settings.namespace == TEMPLATE_NAMESPACE or not settings.namespace_derived:
        return
    if call(settings.redis, lambda: client.exists(Keys(TEMPLATE_NAMESPACE).leader)):
        log.warning(
            "a scheduler leads namespace %r on this Redis, the default before 0.2, while this one uses %r "
            "(derived from SCHEDULER_JOBS=%r): if that is this app on hosts not yet upgraded, both run every "
            "fire until they are; set SCHEDULER_NAMESPACE=%s on every host to keep the old one",
            TEMPLATE_NAMESPACE,
            settings.namespace,
            settings.jobs_ref,
            TEMPLATE_NAMESPACE,
        )


def check_info_in_scripts(settings: RedisSettings, client: Client, keys: Keys) -> None:
    """The lease scripts read Redis's run id (INFO) to notice a restart or failover that lost claims."""
    try:
        call(settings, lambda: client.eval("return redis.call('INFO', 'server') ~= nil", 1, keys.leader))
    except (redis.ResponseError, RedisConfigError) as exc:
        raise RedisConfigError(
            f"Redis at {settings.target} does not let the scheduler run INFO in a script "
            f"({str(exc).split(';')[0]}); the kit reads Redis's run id to notice a restart or failover that lost "
            f"claims: give the ACL user {ACL_NEEDED} (ACL SETUSER <user> +info), and do not rename INFO"
        ) from None


def check_eviction_policy(settings: RedisSettings, client: Client) -> None:
    """Refuse a Redis that may delete keys under memory pressure: a deleted claim lets a fire run twice."""
    try:
        policy = str(call(settings, lambda: client.config_get("maxmemory-policy")).get("maxmemory-policy", ""))
    except (redis.ResponseError, RedisConfigError) as exc:
        log.warning(
            "cannot read Redis's maxmemory-policy (%s); make sure it is noeviction, or a claim evicted under "
            "memory pressure could let a fire run twice",
            str(exc).split(";")[0],
        )
        return
    if policy and policy != "noeviction":
        raise RedisConfigError(
            f"Redis at {settings.target} has maxmemory-policy {policy}: under memory pressure it deletes keys, "
            "and a deleted claim or lease lets a fire run twice; set `maxmemory-policy noeviction` "
            "(redis.conf, or CONFIG SET) or give the scheduler a Redis of its own"
        )


def open_ledger(settings: Settings, client: Client | None = None, watched: bool = False) -> Ledger:
    """The ledger for this mode (readers such as the web workers and the CLI use it too).

    ``watched``: the runner's; trouble with the local ledger is reported to :mod:`scheduler_proc.problems`.
    """
    history = HistoryLimits(settings.history_size, settings.history_failures_size)
    if settings.redis is None:
        return LocalLedger(settings.ledger_path, settings.claim_retention, history, watched)
    return RedisLedger(
        settings.redis, client or connect(settings.redis), Keys(settings.namespace), settings.claim_retention, history
    )


def open_backend(
    settings: Settings, lock: HostLock, metrics: LeaseObserver, healthy: Callable[[], bool] = lambda: True
) -> Backend:
    """The ledger, leadership and command bus for this mode."""
    if settings.redis is None:
        return Backend("single-host", open_ledger(settings, watched=True), HostLeadership(lock), open_bus(settings))
    client = connect(settings.redis)
    keys = Keys(settings.namespace)
    return Backend(
        "cluster",
        open_ledger(settings, client),
        ClusterLeadership(
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
