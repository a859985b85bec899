"""What the lease thread tells operators about the store: one line per change of state, not one per retry.

While the store answers but refuses us (credentials, TLS, a read-only replica) the runner's health
is red (see :mod:`scheduler_proc.problems`); a store that lost claims (a restart without them,
a failover, a restore from an older backup) is a warning each time a lease call notices it.
"""

from __future__ import annotations

import logging
from typing import Literal

from scheduler_proc import problems
from scheduler_proc.coordination.lease.calls import Store, StoreSettings

log = logging.getLogger("scheduler.lease")

StoreState = Literal["unknown", "ok", "unreachable", "error"]


class StoreHealth:
    """The last known state of the store, as the status file shows it, and the log lines of its changes."""

    def __init__(self, settings: StoreSettings, store: Store) -> None:
        self._settings = settings
        self._store = store
        self.state: StoreState = "unknown"
        self._blind_told = False

    def became(self, state: StoreState, message: str) -> None:
        """The store is in ``state`` now (``message`` says what happened); logged only if that is a change."""
        if state == self.state:
            return
        previous, self.state = self.state, state
        name, key = self._store.name, self._store.key
        if state == "error":
            problems.report(key, f"{name} refuses the scheduler's commands", message)
            return
        problems.resolved(key, f"{name} at {self._settings.target} takes the scheduler's commands again")
        if state == "ok":
            if previous != "unknown":
                log.info("%s again", message)
        else:
            log.error("%s", message)

    def continuity(self, reason: str, margin_ms: int, leading: bool = False) -> None:
        """Log what a lease call found about the store's data: ``reason`` is '' (nothing lost), '?' (the
        store cannot tell; one warning per process), or why claims made before may be gone."""
        if reason == "?":
            if not self._blind_told:
                self._blind_told = True
                log.warning("%s", self._store.blind)
        elif reason:
            log.warning(
                "%s: claims made before may be gone from %s and cannot be proven unrun, so no fire scheduled "
                "up to %gs from now runs again%s; %s",
                reason,
                self._store.name,
                margin_ms / 1000,
                " (this node leads on and runs none of its fires twice)" if leading else "",
                self._store.durable,
            )
