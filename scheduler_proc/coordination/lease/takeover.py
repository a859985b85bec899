"""Give up the lease that a dead runner of this host still holds, so another node leads at once.

A runner killed with -9 (or by the OOM killer) cannot release its lease; without help the
cluster waits a whole lease TTL. Any process of this host can prove that runner dead:
nobody holds the host lock any more, yet the lock file still carries its record, with
the lease token it held and its run-id prefix. Releasing by token compare is safe whoever
does it: if another node leads by then, the token no longer matches and nothing happens.
Each backend's takeover.py brings the call (``bury``) that does it on its store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from scheduler_proc.coordination.lease.calls import token_parts
from scheduler_proc.coordination.local.hostlock import Holder
from scheduler_proc.errors import SchedulerError

log = logging.getLogger("scheduler.takeover")

#: bury(lease token or None, run-id prefix) -> True if it released the lease.
Bury = Callable[[str | None, str], bool]


def bury_dead(holder: Holder | None, who: str, bury: Bury) -> None:
    """Release the lease a dead ``holder`` left and stop counting its runs; ``who`` proved it dead, for the log."""
    if holder is None or not (holder.lease or holder.runs):
        return
    try:
        released = bury(holder.lease, holder.runs or "-")
    except SchedulerError as exc:
        log.warning("runner pid %d died; could not release its lease nor its running markers (%s)", holder.pid, exc)
        return
    if released and holder.lease:
        parts = token_parts(holder.lease)
        log.info(
            "runner pid %d died holding the lease of term %s; %s released it, so another node leads now",
            holder.pid,
            "?" if parts is None else parts[0],
            who,
        )
