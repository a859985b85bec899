"""The cluster leader lease kept in PostgreSQL: the shared lease machinery (``coordination/lease/``) on
the functions of sql/lease.sql.

The lease is one row (term, token, node, expires_at) in the app's schema, its terms counted by a
sequence; every call is one statement running a function that locks the row, compares the token,
and checks that the data is still the cluster's own (a restore, a failover). A standby hears of
a released lease by LISTEN on ``<schema>_handover`` (notices.py).
"""

from __future__ import annotations

from collections.abc import Callable

from scheduler_proc import clock as clocks
from scheduler_proc.coordination.interfaces import LeaseObserver
from scheduler_proc.coordination.lease.leadership import ClusterLeadership, always_healthy, ignore_lease
from scheduler_proc.coordination.local.nodestate import TermMemory
from scheduler_proc.coordination.postgres.conn import Client
from scheduler_proc.coordination.postgres.leasecalls import POSTGRES, PostgresLeaseCalls
from scheduler_proc.coordination.postgres.notices import HandoverNotices
from scheduler_proc.settings import Settings


def postgres_leadership(
    settings: Settings,
    client: Client,
    metrics: LeaseObserver | None = None,
    memory: TermMemory | None = None,
    on_lease: Callable[[str | None], None] = ignore_lease,
    healthy: Callable[[], bool] = always_healthy,
    clock: Callable[[], float] = clocks.elapsed,
    wall: Callable[[], float] = clocks.wall,
    ready: Callable[[], None] = lambda: None,
) -> ClusterLeadership:
    """The leadership of this node (``settings.node_id``) over the lease in ``client``'s schema.

    The lease calls run on ``client`` (a connection per thread: the lease thread has its own);
    the handover notices on a connection of their own, named ``scheduler-proc/<node>/handover``.
    """
    store = settings.postgres
    if store is None:
        raise ValueError("postgres_leadership needs settings with SCHEDULER_POSTGRES_URL")
    return ClusterLeadership(
        store,
        POSTGRES,
        lambda watch: PostgresLeaseCalls(client, watch, ready),
        HandoverNotices(store, f"scheduler-proc/{settings.node_id}/handover"),
        settings.node_id,
        clock=clock,
        metrics=metrics,
        memory=memory,
        wall=wall,
        on_lease=on_lease,
        healthy=healthy,
    )
