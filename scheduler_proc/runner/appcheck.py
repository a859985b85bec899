"""Cluster mode: compare this node with the leader: another app in the namespace, another tzdata.

Two apps that share a namespace share one lease: the standbys of the app that does not
lead would wait for ever, silently. Two hosts with different time zone databases can
disagree on a crontab's instants, so a standby that takes over would fire at other times.
The leader writes its app, node and tzdata version into the store once per term; a standby
reads them now and then and logs at ERROR (and shows in status) what differs. One host's
apps are told apart by the host lock's record instead.
"""

from __future__ import annotations

import logging
import time

from scheduler_proc.coordination.interfaces import Ledger
from scheduler_proc.errors import SchedulerError
from scheduler_proc.identity import AppIdentity
from scheduler_proc.tzversion import tzdata_version

log = logging.getLogger("scheduler.runner")

#: A standby reads the leader's record this often (one HGETALL: nothing next to the lease's traffic).
CHECK_EVERY = 30.0


class LeaderComparison:
    """Writes this node's record when it leads; compares with the leader's when it stands by."""

    def __init__(self, app: AppIdentity, namespace: str, node: str, ledger: Ledger, every: float = CHECK_EVERY) -> None:
        self.app = app
        self.namespace = namespace
        self.node = node
        self.ledger = ledger
        self.every = every
        self._checked_at: float | None = None
        #: Another app leads this namespace (None: ours, or not known).
        self.conflict: str | None = None
        #: The leader computes crontab instants with another tzdata (None: the same, or not known).
        self.tzdata_mismatch: str | None = None

    def leading(self) -> None:
        """A new term of ours: describe this node for the standbys (and forget what differed)."""
        self.conflict = self.tzdata_mismatch = self._checked_at = None
        try:
            self.ledger.set_leader_record({"jobs": self.app.jobs, "node": self.node, "tzdata": tzdata_version()})
        except SchedulerError as exc:
            log.warning(
                "cannot describe this leader in the store (%s); standbys cannot compare their app or tzdata", exc
            )

    def standing_by(self) -> None:
        """Compare with the leader's record every ``every`` seconds; log what differs when it changes."""
        now = time.monotonic()
        if self._checked_at is not None and now - self._checked_at < self.every:
            return
        self._checked_at = now
        try:
            record = self.ledger.leader_record()
        except SchedulerError:
            return  # Redis trouble is reported by the lease
        conflict = self.app.conflict(record.get("jobs"), None, self.namespace)
        if conflict and conflict != self.conflict:
            log.error("the cluster's lease: %s", conflict)
        self.conflict = conflict
        mismatch = self._tzdata_mismatch(record)
        if mismatch and mismatch != self.tzdata_mismatch:
            log.error("%s", mismatch)
        self.tzdata_mismatch = mismatch

    def _tzdata_mismatch(self, record: dict[str, str]) -> str | None:
        theirs, mine = record.get("tzdata"), tzdata_version()
        if not theirs or theirs == mine or self.conflict:
            return None
        return (
            f"the leader, node {record.get('node', '?')}, computes crontab instants with tzdata {theirs!r} and this "
            f"node with {mine!r}: a time zone whose rules changed between them fires at other instants after a "
            "failover; give every host the same tzdata (the OS package, or the same `tzdata` from PyPI)"
        )
