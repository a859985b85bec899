"""Give up the lease that a dead runner of this host still holds in PostgreSQL, so another node leads at
once, and mark its run-id prefix dead (the reasoning is in coordination/lease/takeover.py)."""

from __future__ import annotations

from scheduler_proc.coordination.lease.takeover import bury_dead
from scheduler_proc.coordination.local.hostlock import Holder, read_abandoned
from scheduler_proc.coordination.postgres.conn import Client
from scheduler_proc.coordination.postgres.leasecalls import bury
from scheduler_proc.settings import Settings


def release_for(settings: Settings, holder: Holder | None, who: str) -> None:
    """Release the lease a dead ``holder`` left (if any); ``who`` says who proved it dead, for the log."""
    store = settings.postgres
    if store is None:
        return

    def bury_in_postgres(lease_token: str | None, run_prefix: str) -> bool:
        client = Client(store, f"scheduler-proc/{settings.node_id}/takeover")
        try:
            return bury(client, lease_token, run_prefix)
        finally:
            client.close()

    bury_dead(holder, who, bury_in_postgres)


def release_abandoned(settings: Settings) -> None:
    """If the host lock is free and its file names a dead holder's lease, release that lease."""
    release_for(settings, read_abandoned(settings.lock_path), "its supervisor")
