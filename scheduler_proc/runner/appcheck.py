"""Cluster mode: notice another app that leads this namespace on the same Redis.

Two apps that share a namespace share one lease: the standbys of the app that does not
lead would wait for ever, silently. The leader names its app in Redis once per term; a
standby reads that name now and then and logs at ERROR (and shows in status) when it is
not its own. One host's apps are told apart by the host lock's record instead.
"""

from __future__ import annotations

import logging
import time

from scheduler_proc.coordination.ledger import Ledger
from scheduler_proc.errors import SchedulerError
from scheduler_proc.identity import AppIdentity

log = logging.getLogger("scheduler.runner")

#: A standby reads the name this often (one GET: nothing next to the lease's own traffic).
CHECK_EVERY = 30.0


class NamespaceOwnerCheck:
    """Writes this app's name when it leads; reads the leader's when it stands by."""

    def __init__(self, app: AppIdentity, namespace: str, ledger: Ledger, every: float = CHECK_EVERY) -> None:
        self.app = app
        self.namespace = namespace
        self.ledger = ledger
        self.every = every
        self._checked_at: float | None = None
        self.conflict: str | None = None

    def leading(self) -> None:
        """A new term of ours: name our app for the standbys (and forget any conflict)."""
        self.conflict, self._checked_at = None, None
        try:
            self.ledger.set_namespace_app(self.app.jobs)
        except SchedulerError as exc:
            log.warning("cannot name this app in Redis (%s); standbys of another app may not notice it", exc)

    def standing_by(self) -> str | None:
        """The conflict with the app that leads, re-read every ``every`` seconds; logged when it changes."""
        now = time.monotonic()
        if self._checked_at is not None and now - self._checked_at < self.every:
            return self.conflict
        self._checked_at = now
        try:
            leader_app = self.ledger.namespace_app()
        except SchedulerError:
            return self.conflict  # Redis trouble is reported by the lease
        conflict = self.app.conflict(leader_app, None, self.namespace)
        if conflict and conflict != self.conflict:
            log.error("the cluster's lease: %s", conflict)
        self.conflict = conflict
        return conflict
