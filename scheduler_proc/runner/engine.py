"""APScheduler underneath: it computes due times; the kit's executor claims and runs them.

An :class:`Engine` lives for one leadership term. Where each job resumes is the catch-up
policy (:mod:`~scheduler_proc.runner.catchup`); APScheduler's private parts are reached only
through :mod:`~scheduler_proc.runner.apscheduler_adapter`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from scheduler_proc import clock
from scheduler_proc.coordination.interfaces import Ledger
from scheduler_proc.coordination.term import Term
from scheduler_proc.formats.status import JobRow
from scheduler_proc.jobs import Jobs
from scheduler_proc.runner.apscheduler_adapter import BatchingScheduler, next_due_time, next_run_times
from scheduler_proc.runner.catchup import CatchUp
from scheduler_proc.runner.dispatch import Dispatcher
from scheduler_proc.runner.executor import FireExecutor
from scheduler_proc.runner.instances import Instances
from scheduler_proc.runner.jobrows import JobRows
from scheduler_proc.runner.manual import ManualRun, manual_run_result
from scheduler_proc.runner.metrics import Metrics

log = logging.getLogger("scheduler.engine")

_UNLIMITED = 1_000_000
_SHUTDOWN_WAIT = 1.0


def _never_called() -> None:
    """APScheduler needs a callable per job; the executor runs the real one."""


class Engine:
    """One APScheduler ``BackgroundScheduler`` fed from a ``Jobs`` registry, for one leadership term.

    On start each job resumes after its last claimed fire (see :class:`CatchUp`). Paused jobs
    (stored in the ledger) stay paused across restarts and failovers.
    """

    def __init__(
        self,
        jobs: Jobs,
        ledger: Ledger,
        node: str,
        default_misfire_grace: float,
        max_workers: int,
        dispatch_term: Callable[[], Term | None],
        metrics: Metrics | None = None,
        progress: Callable[[], None] | None = None,
        instances: Instances | None = None,
    ) -> None:
        self.specs = {spec.id: spec for spec in jobs}
        self._ledger = ledger
        beat = progress or _never_called
        self.dispatcher = Dispatcher(
            self.specs, ledger, node, default_misfire_grace, dispatch_term, metrics, beat, instances, jobs.hooks
        )
        self.catch_up = CatchUp(self.specs, ledger, default_misfire_grace, self.dispatcher.missed_before_start)
        self._executor = FireExecutor(self.dispatcher, max_workers, beat)
        self._scheduler = BatchingScheduler(
            self._executor.flush, timezone=clock.scheduler_timezone(), executors={"default": self._executor}
        )
        self._rows = JobRows(self.specs)
        self._started = False
        self._used = False  # started, or given a manual run: fires may have been claimed (and must be recorded)
        self._paused: set[str] = set()
        self._stopper: threading.Thread | None = None  # shuts APScheduler down (its thread, its job threads)

    def start(self, floor: datetime | None = None) -> None:
        """Add every job (resuming from the ledger) and start the scheduler thread.

        ``floor`` is the earliest time a job that was never claimed may start from.
        """
        self._paused = self._ledger.paused() & set(self.specs)
        first_fires = self.catch_up.first_fires(floor, self._paused)
        for spec in self.specs.values():
            self._scheduler.add_job(
                _never_called,
                trigger=spec.trigger,
                id=spec.id,
                name=spec.id,
                coalesce=spec.coalesce,
                # With a ledger that counts instances across the cluster, fires over the limit wait
                # (see scheduler_proc.runner.waiting) instead of APScheduler skipping them.
                max_instances=_UNLIMITED if self._ledger.counts_instances else spec.max_instances,
                misfire_grace_time=None,
                next_run_time=first_fires[spec.id],
            )
        self._used = True
        self._scheduler.start()
        self._started = True
        if self._paused:
            log.info("paused job(s), as stored: %s", ", ".join(sorted(self._paused)))

    def halt(self) -> None:
        """Start no more fires; running ones go on (they were claimed under a valid term).

        An engine that was never used (its start failed) has claimed nothing: its job threads and
        record writer end now (the runner makes a new engine on each try, while the lease lasts).
        """
        self._executor.close()  # at once, whatever APScheduler's thread is doing: nothing more is claimed
        if not self._used:
            self._executor.shutdown(wait=False)
            self.dispatcher.recorder.close()
        if self._started:
            self._started = False
            # APScheduler's shutdown takes its job store lock, which a hung dispatch loop may hold:
            # never let it block the runner's loop (the watchdog there must still see the hang).
            self._stopper = threading.Thread(target=self._scheduler.shutdown, kwargs={"wait": False}, daemon=True)
            self._stopper.start()
            self._stopper.join(_SHUTDOWN_WAIT)
        self.dispatcher.drop_waiting()

    def finished(self) -> bool:
        """A halted engine with nothing left to claim, run or record: APScheduler's thread ended (its
        shutdown joins it), then its job threads, no fire is in flight and every record is written."""
        stopped = self._stopper is not None and not self._stopper.is_alive()
        return stopped and self._executor.ended() and self.dispatcher.wait_idle(0) and self.dispatcher.recorder.idle()

    def close(self) -> None:
        """Let a finished engine's record writer go (see :meth:`finished`)."""
        self.dispatcher.recorder.close()

    def nudge(self) -> None:
        """Wake APScheduler's thread: its pass beats the watchdog, so a hung loop shows."""
        if self._started:
            self._scheduler.wakeup()

    def retry_waiting(self) -> None:
        """Claim again the fires that wait for a running instance elsewhere (the runner's loop calls it)."""
        if self._started:
            self._executor.retry_waiting()

    def unstarted(self) -> int:
        """Claimed fires that have not started yet (a stop lets them start before it hands over)."""
        return self.dispatcher.unstarted()

    def idle(self) -> bool:
        """True when no fire of this engine runs."""
        return self.dispatcher.wait_idle(0)

    def busy(self, within: float = 0.0) -> bool:
        """True while fires are being claimed and started, or when the next is due within ``within`` s."""
        if self._executor.busy():
            return True
        if within <= 0 or not self._started:
            return False
        upcoming = next_due_time(self._scheduler)
        return upcoming is not None and upcoming.timestamp() - time.time() < within

    def abandon(self) -> list[str]:
        """Record the fires still running as abandoned (the process is about to exit); their job ids."""
        running = self.dispatcher.in_flight()
        self.dispatcher.abandon_in_flight()
        return running

    def flush_records(self, timeout: float) -> bool:
        """Wait until every finished run is written to the ledger (before the process exits)."""
        return self.dispatcher.recorder.flush(timeout)

    def pause(self, job_id: str) -> None:
        """Stop scheduling a job until resumed (the ledger remembers it)."""
        if self._started and job_id not in self._paused:
            self._scheduler.pause_job(job_id)
        self._paused.add(job_id)

    def resume(self, job_id: str) -> None:
        """Schedule a paused job again from its next fire after now (no catch-up of the pause)."""
        if self._started and job_id in self._paused:
            self._scheduler.resume_job(job_id)
        self._paused.discard(job_id)

    def run_now(self, job_id: str, scheduled_at: datetime, wait: float = 2.0) -> ManualRun:
        """Run a job once now and say what happened; ``scheduled_at`` identifies the fire, so a command
        carried out twice (a failover mid-way) runs once."""
        self._used = True
        return manual_run_result(self._executor.submit_manual(job_id, scheduled_at), wait)

    def snapshot(self) -> list[JobRow]:
        """The job table for status pages (read without the scheduler's lock, see the adapter)."""
        next_runs = next_run_times(self._scheduler) if self._started else {}
        return self._rows.rows(next_runs, self._paused, self.dispatcher.states)
