"""Give up the lease that a dead runner of this host still holds, so another node leads at once.

A runner killed with -9 (or by the OOM killer) cannot release its lease; without help the
cluster waits a whole lease TTL. Any process of this host can prove that runner dead:
nobody holds the host lock any more, yet the lock file still carries its record, with
the lease token it held. Releasing by token compare is safe whoever does it: if another
node leads by then, the token no longer matches and nothing happens.
"""

from __future__ import annotations

import logging

from scheduler_proc.coordination.local.hostlock import Holder, read_abandoned
from scheduler_proc.coordination.redis.conn import connect
from scheduler_proc.coordination.redis.keys import Keys
from scheduler_proc.coordination.redis.leasecalls import bury
from scheduler_proc.coordination.redis.leasestate import parse_token
from scheduler_proc.errors import SchedulerError
from scheduler_proc.settings import Settings

log = logging.getLogger("scheduler.takeover")


def release_for(settings: Settings, holder: Holder | None, who: str) -> None:
    """Release the lease a dead ``holder`` left (if any); ``who`` says who proved it dead, for the log."""
    if settings.redis is None or holder is None or not (holder.lease or holder.runs):
        return
    client = connect(settings.redis)
    try:
        released = bury(settings.redis, client, Keys(settings.namespace), holder.lease, holder.runs or "-")
    except SchedulerError as exc:
        log.warning("runner pid %d died; could not release its lease nor its running markers (%s)", holder.pid, exc)
        return
    finally:
        client.close()
    if released and holder.lease:
        log.info(
            "runner pid %d died holding the lease of term %d; %s released it, so another node leads now",
            holder.pid,
            parse_token(holder.lease)[0],
            who,
        )


def release_abandoned(settings: Settings) -> None:
    """If the host lock is free and its file names a dead holder's lease, release that lease."""
    release_for(settings, read_abandoned(settings.lock_path), "its supervisor")
