"""Give up the lease that a dead runner of this host still holds in Redis, so another node leads at once
(the reasoning is in coordination/lease/takeover.py)."""

from __future__ import annotations

from scheduler_proc.coordination.lease.takeover import bury_dead
from scheduler_proc.coordination.local.hostlock import Holder, read_abandoned
from scheduler_proc.coordination.redis.conn import connect
from scheduler_proc.coordination.redis.keys import Keys
from scheduler_proc.coordination.redis.leasecalls import bury
from scheduler_proc.settings import Settings


def release_for(settings: Settings, holder: Holder | None, who: str) -> None:
    """Release the lease a dead ``holder`` left (if any); ``who`` says who proved it dead, for the log."""
    store = settings.redis
    if store is None:
        return

    def bury_in_redis(lease_token: str | None, run_prefix: str) -> bool:
        client = connect(store)
        try:
            return bury(store, client, Keys(settings.namespace), lease_token, run_prefix)
        finally:
            client.close()

    bury_dead(holder, who, bury_in_redis)


def release_abandoned(settings: Settings) -> None:
    """If the host lock is free and its file names a dead holder's lease, release that lease."""
    release_for(settings, read_abandoned(settings.lock_path), "its supervisor")
