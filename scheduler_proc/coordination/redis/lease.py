"""The cluster leader lease kept in Redis: the shared lease machinery (``coordination/lease/``) on Redis's calls.

The lease is a string key holding 'term:nonce:node' with a TTL, its term counted by an
INCR counter; every call is a Lua script (lua/acquire.lua, renew.lua, release.lua) that
compares the token and checks that Redis still holds the data the cluster acted on
(lua/continuity.lua). A standby hears of a released lease on the handover channel (hints.py).
"""

from __future__ import annotations

from collections.abc import Callable

from scheduler_proc import clock as clocks
from scheduler_proc.coordination.interfaces import LeaseObserver
from scheduler_proc.coordination.lease.leadership import ClusterLeadership, always_healthy, ignore_lease
from scheduler_proc.coordination.local.nodestate import TermMemory
from scheduler_proc.coordination.redis.conn import Client
from scheduler_proc.coordination.redis.hints import HandoverNotices
from scheduler_proc.coordination.redis.keys import Keys
from scheduler_proc.coordination.redis.leasecalls import REDIS, RedisLeaseCalls
from scheduler_proc.settings import RedisSettings


def redis_leadership(
    settings: RedisSettings,
    client: Client,
    keys: Keys,
    node: str,
    clock: Callable[[], float] = clocks.elapsed,
    metrics: LeaseObserver | None = None,
    memory: TermMemory | None = None,
    wall: Callable[[], float] = clocks.wall,
    on_lease: Callable[[str | None], None] = ignore_lease,
    healthy: Callable[[], bool] = always_healthy,
) -> ClusterLeadership:
    """The leadership of ``node`` over the lease in ``keys``'s namespace (see ``ClusterLeadership``)."""
    return ClusterLeadership(
        settings,
        REDIS,
        lambda watch: RedisLeaseCalls(settings, client, keys, watch),
        HandoverNotices(client, keys.handover),
        node,
        clock=clock,
        metrics=metrics,
        memory=memory,
        wall=wall,
        on_lease=on_lease,
        healthy=healthy,
    )
