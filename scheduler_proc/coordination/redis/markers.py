"""Keeps this process's running markers alive in Redis, so max_instances counts its runs cluster-wide.

A marker is added when a fire is claimed and removed when its run is recorded; while the
run goes on (also after this node handed the lease over at a stop, or lost it), this thread
renews it, and writes it again if Redis lost it (a restart without persistence, a
failover). If the node dies, or cannot reach Redis, its markers expire within one lease TTL
of the last renewal.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from scheduler_proc.coordination.interfaces import Ledger
from scheduler_proc.coordination.records import LiveRun
from scheduler_proc.errors import SchedulerError

log = logging.getLogger("scheduler.markers")


class MarkerKeeper:
    """Every ``every`` seconds, renews the markers of the runs ``runs()`` names."""

    def __init__(self, ledger: Ledger, runs: Callable[[], list[LiveRun]], every: float) -> None:
        self._ledger = ledger
        self._runs = runs
        self._every = every
        self._stopped = threading.Event()
        self._failing = False
        self._thread = threading.Thread(target=self._keep, name="marker-keeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()

    def _keep(self) -> None:
        while not self._stopped.wait(self._every):
            runs = self._runs()
            if not runs:
                continue
            try:
                self._ledger.keep_running(runs)
            except SchedulerError as exc:
                if not self._failing:
                    log.warning("cannot renew the running markers of %d run(s): %s", len(runs), exc)
                self._failing = True
            else:
                self._failing = False
