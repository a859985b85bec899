"""An engine per leadership term: started when a term begins, retired (not killed) when it ends.

A lost lease retires the engine, and so does a new term won in between two turns of the
runner's loop (the new engine catches up what the gap missed). Retired engines are kept:
their fires run on under the ended term, and a stop waits for them and records them.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import threading
from collections.abc import Callable

from scheduler_proc.coordination.backend import Backend
from scheduler_proc.coordination.local.hostlock import HostLock
from scheduler_proc.coordination.records import LiveRun
from scheduler_proc.coordination.term import Term
from scheduler_proc.errors import LedgerError, StoreUnavailable
from scheduler_proc.jobs import Jobs
from scheduler_proc.runner.engine import Engine
from scheduler_proc.runner.instances import Instances
from scheduler_proc.runner.metrics import Metrics
from scheduler_proc.runner.watchdog import Watchdog
from scheduler_proc.settings import Settings

log = logging.getLogger("scheduler.runner")


class TermEngines:
    """The engine of the current term (if any) and the retired ones whose fires may still run."""

    def __init__(
        self,
        settings: Settings,
        jobs: Jobs,
        lock: HostLock,
        stop: threading.Event,
        watchdog: Watchdog,
        metrics: Metrics,
        progress: Callable[[], None],
    ) -> None:
        self._settings = settings
        self._jobs = jobs
        self._lock = lock
        self._stop = stop
        self._watchdog = watchdog
        self._metrics = metrics
        self._progress = progress
        self.backend: Backend | None = None  # set once the runner opened it: no term without it
        self.engine: Engine | None = None
        self._engine_fencing_token: int | None = None  # the fencing token of the term the engine dispatches under
        self.retired: list[Engine] = []
        self.instances = Instances()  # every engine's runs: max_instances holds across terms

    def all(self) -> list[Engine]:
        """The current engine, if any, and the retired ones."""
        return [engine for engine in (self.engine, *self.retired) if engine is not None]

    def follow(self, backend: Backend) -> bool:
        """Retire the engine whose term ended; start one for a new term. True when one started."""
        self._let_go_finished()
        term = backend.leadership.current_term()
        if self.engine is not None and (term is None or term.fencing_token != self._engine_fencing_token):
            self.retire()
        if term is None or self.engine is not None:
            return False
        engine = self._new_engine(backend)
        if engine is None:
            return False
        try:
            engine.start(floor=backend.floor_time())
        except (StoreUnavailable, LedgerError) as exc:
            if isinstance(exc, StoreUnavailable):  # a LedgerError is reported once, as a problem
                log.error("cannot resume the jobs (%s); trying again", exc)
            engine.halt()
            return False
        self.engine, self._engine_fencing_token = engine, term.fencing_token
        backend.bus.rewind()
        self._watchdog.watch(True)
        # The jobs, triggers and APScheduler's store live as long as the engine: keep them
        # out of the collector's scans, which otherwise walk them all inside a burst.
        gc.freeze()
        return True

    def retire(self) -> None:
        """Stop dispatching; fires already running finish under their (now ended) term."""
        if self.engine is not None:
            self._watchdog.watch(False)
            self.engine.halt()
            self.retired.append(self.engine)
            self.engine = None
            # Let the collector see this engine's objects (and any garbage frozen with them)
            # again; the next engine freezes what is then alive. Without this, every gain of
            # the lease would freeze another generation's garbage for good.
            gc.unfreeze()

    def _let_go_finished(self) -> None:
        """Retired engines with nothing left to run or record are dropped (their record writer ends):
        a node that leads again and again would otherwise keep one engine and one thread per term."""
        for engine in [engine for engine in self.retired if engine.finished()]:
            engine.close()
            self.retired.remove(engine)

    def claimed_runs(self) -> list[LiveRun]:
        """Runs of this process still in progress, in the current and the retired engines (any thread)."""
        return [run for engine in self.all() for run in engine.dispatcher.claimed_runs()]

    def dispatch_term(self) -> Term | None:
        """The term to claim fires under, or None; its ``is_current`` also checks the host lock."""
        if self._stop.is_set() or self.backend is None or not self._lock.still_valid():
            return None
        term = self.backend.leadership.current_term()
        if term is None or term.fencing_token is None:
            return term  # single host: the term is the host lock already
        lease_current, lock = term.is_current, self._lock
        return dataclasses.replace(term, is_current=lambda: lock.still_valid() and lease_current())

    def _new_engine(self, backend: Backend) -> Engine | None:
        """An engine, or None while the ledger cannot be read: health says why (see scheduler_proc.problems);
        the next turn of the loop tries again."""
        try:
            return Engine(
                self._jobs,
                backend.ledger,
                self._settings.node_id,
                self._settings.misfire_grace,
                self._settings.max_workers,
                self.dispatch_term,
                self._metrics,
                self._progress,
                self.instances,
            )
        except LedgerError:
            return None
