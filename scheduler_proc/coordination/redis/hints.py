"""Pub/sub channels used as hints only: a hint makes a waiting process look now, and a lost
one (a broken subscription, a failover) only delays it to its next regular look.

Nothing a process must not miss travels here: the handover is in the lease key, commands
are in their stream. Subscribing costs a connection, not a command per look.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import redis

from scheduler_proc.coordination.redis.conn import Client


class _Subscription:
    """One channel, subscribed on first use; any trouble closes it (the next use subscribes again)."""

    def __init__(self, client: Client, channel: str) -> None:
        self._client = client
        self._channel = channel
        self._pubsub: Any = None

    def _subscribed(self) -> bool:
        """Subscribe if not yet; False when it subscribed just now (hints sent before were not heard)."""
        if self._pubsub is not None:
            return True
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        self._pubsub.subscribe(self._channel)
        return False

    def close(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(redis.RedisError, OSError):
                pubsub.close()


class HandoverNotices(_Subscription):
    """The handover channel: how a sleeping standby hears of a released lease.

    Without it a standby would poll; with it, it sends one command per lease TTL at idle.
    Any trouble with the subscription just makes ``wait`` sleep instead (the caller polls).
    """

    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds; True if a handover notice came."""
        deadline = time.monotonic() + timeout
        try:
            self._subscribed()
            while (left := deadline - time.monotonic()) > 0:
                message = self._pubsub.get_message(timeout=left)
                if message is not None and message.get("type") == "message":
                    return True
            return False
        except (redis.RedisError, OSError):
            self.close()
            time.sleep(max(0.0, min(deadline - time.monotonic(), 0.5)))
            return False


class Hints(_Subscription):
    """The commands' hint channel, read without blocking by the leader's loop."""

    def heard(self) -> bool:
        """True if a hint came since the last call, or when the subscription cannot tell (it was
        just made, or broke): then the caller looks anyway."""
        try:
            if not self._subscribed():
                return True
            heard = False
            while (message := self._pubsub.get_message(timeout=0)) is not None:
                heard = heard or message.get("type") == "message"
            return heard
        except (redis.RedisError, OSError):
            self.close()
            return True
