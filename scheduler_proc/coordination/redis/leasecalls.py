"""The lease's calls to Redis: each Lua script run by SHA1, its reply decoded into a named type.

What each script takes and returns is in the header of lua/<name>.lua; the replies are
decoded in replies.py. Calls whose reply carries Redis's time measure this host's clock
on the way (see lease/clockwatch.py). ``RedisLeaseCalls`` is the Redis side of the shared
lease machinery (``lease/calls.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import redis

from scheduler_proc.coordination.lease.calls import Store
from scheduler_proc.coordination.lease.clockwatch import ClockWatch
from scheduler_proc.coordination.redis import decode
from scheduler_proc.coordination.redis.conn import Client, LuaScript, call
from scheduler_proc.coordination.redis.keys import Keys
from scheduler_proc.coordination.redis.replies import (
    Acquired,
    HeldByOther,
    Renewal,
    acquire_reply,
    quiet_renew_reply,
    renew_reply,
    time_reply,
)
from scheduler_proc.coordination.redis.scripts import source
from scheduler_proc.settings import RedisSettings

ACQUIRE = source("acquire")
RENEW = source("renew")
RENEW_QUIET = source("renew_quiet")
RELEASE = source("release")
BURY = source("bury")

T = TypeVar("T")

#: How the lease names Redis, and the fixes its warnings give.
REDIS = Store(
    name="Redis",
    key="redis",
    call="lease script",
    blind="Redis does not let this user run INFO in scripts: a restart or failover of Redis that loses "
    "claims cannot be noticed; grant it (ACL SETUSER <user> +info)",
    durable="run Redis with appendonly yes and appendfsync always",
)


def parse_token(token: str, key: str = "{namespace}:leader") -> tuple[int, str]:
    """(term, node) of a lease token 'term:nonce:node'; UnreadableData naming the Redis ``key`` for anything else."""
    return decode.lease_token(key, token)


class RedisLeaseCalls:
    """One node's lease scripts against one namespace, with the clock measured on each timed reply."""

    store = REDIS
    reply_errors: tuple[type[Exception], ...] = (redis.ResponseError,)

    def __init__(self, settings: RedisSettings, client: Client, keys: Keys, clock: ClockWatch) -> None:
        self.lease_key = keys.leader
        self._settings = settings
        self._client = client
        self._keys = keys
        self._clock = clock
        self._acquire = LuaScript(client, ACQUIRE)
        self._renew = LuaScript(client, RENEW)
        self._renew_quiet = LuaScript(client, RENEW_QUIET)

    def acquire(self, node: str, ttl_ms: int, least_term: int, margin_ms: int) -> Acquired | HeldByOther:
        """Take the lease under a term of at least ``least_term``, or learn who holds it and for how long."""
        keys = [self._keys.leader, self._keys.fence, self._keys.server, self._keys.floor]
        args = [uuid.uuid4().hex[:12], node, ttl_ms, least_term, margin_ms]
        return self._clock.timed(lambda: acquire_reply(self._call(lambda: self._acquire(keys=keys, args=args))))

    def renew(self, lease_token: str, ttl_ms: int, margin_ms: int) -> Renewal:
        """Extend the lease while ``lease_token`` holds it, checking Redis's continuity (the clock is measured too)."""
        keys = [self._keys.leader, self._keys.server, self._keys.floor]
        args = [lease_token, ttl_ms, margin_ms]
        return self._clock.timed(lambda: renew_reply(self._call(lambda: self._renew(keys=keys, args=args))))

    def renew_quiet(self, lease_token: str, ttl_ms: int) -> bool:
        """Extend the lease while ``lease_token`` holds it, and nothing else (the cheapest renewal); False: not ours."""
        return quiet_renew_reply(
            self._call(lambda: self._renew_quiet(keys=[self._keys.leader], args=[lease_token, ttl_ms]))
        )

    def measure_clock(self) -> None:
        """Measure this host's clock against Redis's TIME, without touching the lease."""
        self._clock.timed(lambda: time_reply(self._call(self._client.time)))

    def release(self, lease_token: str) -> bool:
        """Give up the lease if ``lease_token`` still holds it; True if it did."""
        return release_lease_of(self._settings, self._client, self._keys, lease_token)

    def holder(self, lease_token: str) -> tuple[int, str]:
        """(term, node) of a token read from the lease key."""
        return parse_token(lease_token, self.lease_key)

    def _call(self, action: Callable[[], T]) -> T:
        return call(self._settings, action)


def release_lease_of(settings: RedisSettings, client: Client, keys: Keys, lease_token: str) -> bool:
    """Give up the lease if ``lease_token`` still holds it; True if it did."""
    released = call(settings, lambda: LuaScript(client, RELEASE)(keys=[keys.leader, keys.handover], args=[lease_token]))
    return int(released) == 1


def bury(settings: RedisSettings, client: Client, keys: Keys, lease_token: str | None, run_prefix: str) -> bool:
    """For a runner proven dead: give up its lease (if it still holds) and stop counting its runs; True if released."""
    script = LuaScript(client, BURY)
    ttl_ms = int(settings.lease_ttl * 1000)

    def run() -> Any:
        return script(keys=[keys.leader, keys.handover, keys.dead], args=[lease_token or "", run_prefix, ttl_ms])

    try:
        released = call(settings, run)
    except redis.ResponseError:  # '{ns}:dead' of another type: deleted (and logged), then once more
        if not decode.repair_types(settings, client, {keys.dead: "set"}):
            raise
        released = call(settings, run)
    return int(released) == 1
