"""APScheduler underneath: it computes due times; the kit's executor claims and runs them."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.util import undefined

from scheduler_proc import clock
from scheduler_proc.coordination.interfaces import Ledger
from scheduler_proc.coordination.records import ClaimResult
from scheduler_proc.coordination.term import Term
from scheduler_proc.formats.status import JobRow
from scheduler_proc.formats.vocabulary import ManualRunResult
from scheduler_proc.jobs import Jobs, JobSpec
from scheduler_proc.runner.dispatch import Dispatcher
from scheduler_proc.runner.executor import FireExecutor
from scheduler_proc.runner.instances import Instances
from scheduler_proc.runner.metrics import Metrics

log = logging.getLogger("scheduler.engine")

#: Fires shown per job in status pages (the next one and those after it).
UPCOMING = 3
_UNLIMITED = 1_000_000
_SHUTDOWN_WAIT = 1.0


@dataclass(frozen=True)
class ManualRun:
    """What became of a 'run now': ``outcome`` is ran, queued, already-ran or refused; ``reason`` says more."""

    run_id: str
    outcome: ManualRunResult
    reason: str

    @property
    def ok(self) -> bool:
        return self.outcome != "refused"


def _never_called() -> None:
    """APScheduler needs a callable per job; the executor runs the real one."""


class _BatchingScheduler(BackgroundScheduler):  # type: ignore[misc]  # APScheduler 3 ships no types
    """After each wake-up, lets the executor claim everything that was due in one go (and beats)."""

    def _process_jobs(self) -> float | None:
        try:
            wait: float | None = super()._process_jobs()
        finally:
            self._executors["default"].flush()  # beats the watchdog: a pass got through
        return wait


class Engine:
    """One APScheduler ``BackgroundScheduler`` fed from a ``Jobs`` registry, for one leadership term.

    On start each job resumes after its last claimed fire, so fires missed while no
    scheduler ran are caught up if they are still within the job's misfire grace.
    Paused jobs (stored in the ledger) stay paused across restarts and failovers.
    """

    def __init__(
        self,
        jobs: Jobs,
        ledger: Ledger,
        node: str,
        default_misfire_grace: float,
        max_workers: int,
        may_dispatch: Callable[[], Term | None],
        metrics: Metrics | None = None,
        progress: Callable[[], None] | None = None,
        instances: Instances | None = None,
    ) -> None:
        self.specs = {spec.id: spec for spec in jobs}
        self._ledger = ledger
        self._default_grace = default_misfire_grace
        beat = progress or _never_called
        self.dispatcher = Dispatcher(
            self.specs, ledger, node, default_misfire_grace, may_dispatch, metrics, beat, instances, jobs.hooks
        )
        self._executor = FireExecutor(self.dispatcher, max_workers, beat)
        self._scheduler = _BatchingScheduler(timezone=clock.scheduler_timezone(), executors={"default": self._executor})
        self._started = False
        self._paused: set[str] = set()
        self._upcoming: dict[str, tuple[datetime | None, list[str]]] = {}

    def start(self, floor: datetime | None = None) -> None:
        """Add every job (resuming from the ledger) and start the scheduler thread.

        ``floor`` is the earliest time a job that was never claimed may start from.
        """
        now = clock.now()
        self._paused = self._ledger.paused() & set(self.specs)
        lasts = self._ledger.last_claimed_all()  # one read for all jobs: start must stay fast
        resume_floor = self._ledger.resume_floor()
        if resume_floor is not None:
            lasts = self._settle_floor(lasts, *resume_floor)
            self._log_unclaimed(lasts, now, *resume_floor)
            floor = max(floor or now, resume_floor[0] + timedelta(microseconds=1))
        for spec in self.specs.values():
            self._scheduler.add_job(
                _never_called,
                trigger=spec.trigger,
                id=spec.id,
                name=spec.id,
                coalesce=spec.coalesce,
                # With a ledger that counts instances across the cluster, fires over the limit wait
                # (see Dispatcher.retry_waiting) instead of APScheduler skipping them.
                max_instances=_UNLIMITED if self._ledger.counts_instances else spec.max_instances,
                misfire_grace_time=None,
                next_run_time=None
                if spec.id in self._paused
                else self._resume_at(spec, now, floor or now, lasts.get(spec.id)),
            )
        self._scheduler.start()
        self._started = True
        if self._paused:
            log.info("paused job(s), as stored: %s", ", ".join(sorted(self._paused)))

    def halt(self) -> None:
        """Start no more fires; running ones go on (they were claimed under a valid term)."""
        self._executor.close()  # at once, whatever APScheduler's thread is doing: nothing more is claimed
        if self._started:
            self._started = False
            # APScheduler's shutdown takes its job store lock, which a hung dispatch loop may hold:
            # never let it block the runner's loop (the watchdog there must still see the hang).
            stopper = threading.Thread(target=self._scheduler.shutdown, kwargs={"wait": False}, daemon=True)
            stopper.start()
            stopper.join(_SHUTDOWN_WAIT)
        self.dispatcher.drop_waiting()

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
        try:  # the memory store keeps jobs sorted: its first is the next due (read without its lock)
            upcoming = self._scheduler._jobstores["default"].get_next_run_time()
        except (IndexError, KeyError):
            return False
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

    def trigger(self, job_id: str, scheduled_at: datetime, wait: float = 2.0) -> ManualRun:
        """Run a job once now and say what happened; ``scheduled_at`` identifies the fire, so a command
        carried out twice (a failover mid-way) runs once."""
        flight = self._executor.submit_manual(job_id, scheduled_at)
        assert flight.decided is not None
        if not flight.decided.wait(wait):
            return ManualRun(flight.run_id, "queued", "claimed; it starts when a job thread is free")
        if flight.verdict == "ran":
            return ManualRun(flight.run_id, "ran", "started")
        if flight.refusal is ClaimResult.DUPLICATE:
            return ManualRun(flight.run_id, "already-ran", "this command was carried out before (its fire is claimed)")
        return ManualRun(flight.run_id, "refused", flight.verdict)

    def snapshot(self) -> list[JobRow]:
        """The job table for status pages."""
        rows: list[JobRow] = []
        # Read the memory store without the scheduler's lock: status must not wait on a hung dispatch
        # loop (the watchdog, on the same thread, has to notice it).
        store = self._scheduler._jobstores.get("default")
        next_runs = {job.id: job.next_run_time for job in store.get_all_jobs()} if self._started and store else {}
        for spec in self.specs.values():
            state = self.dispatcher.states[spec.id]
            rows.append(
                {
                    "id": spec.id,
                    "trigger": spec.description,
                    "paused": spec.id in self._paused,
                    "next_run_at": _iso(next_runs.get(spec.id)),
                    "next_fires": self._next_fires(spec, next_runs.get(spec.id)),
                    "last_run_at": _iso(state.last_run_at),
                    "last_outcome": state.last_outcome,
                }
            )
        return rows

    def _next_fires(self, spec: JobSpec, next_run: datetime | None) -> list[str]:
        """The next few fires from the one APScheduler holds (recomputed only when that one changed)."""
        cached = self._upcoming.get(spec.id)
        if cached is not None and cached[0] == next_run:
            return cached[1]
        fires = []
        if next_run is not None:
            later = spec.upcoming(next_run + timedelta(microseconds=1), UPCOMING - 1)
            fires = [fire.astimezone(UTC).isoformat() for fire in [next_run, *later]]
        self._upcoming[spec.id] = (next_run, fires)
        return fires

    def _settle_floor(self, lasts: dict[str, datetime], at: datetime, reason: str) -> dict[str, datetime]:
        """Treat the cluster's floor as the last claim of every job claimed before it.

        The floor is set when Redis may have lost claims (a restart, older data, a
        failover): fires up to it cannot be proven unrun. Each job whose last claim is
        older logs the fires it skips, once: the floor is then written as its last claim.
        (Jobs never claimed simply start after the floor.)
        """
        behind = [spec for spec in self.specs.values() if spec.id in lasts and lasts[spec.id] < at]
        for spec in behind:
            first = _first_after(spec, lasts[spec.id])
            if first is not None and first <= at:
                log.warning(
                    "job %s: fires from %s to %s are not started: %s; those claimed before the loss may have "
                    "run before Redis lost their claims, the others did not run. Check the job's own records "
                    "before running any by hand",
                    spec.id,
                    first.isoformat(),
                    at.isoformat(),
                    reason,
                )
        if behind:
            self._ledger.settle([spec.id for spec in behind], at)
        return {**lasts, **{spec.id: at for spec in behind}}

    def _log_unclaimed(self, lasts: dict[str, datetime], now: datetime, at: datetime, reason: str) -> None:
        """Jobs with no claim in Redis start after a recent floor: say so once, for all of them."""
        unclaimed = [spec.id for spec in self.specs.values() if spec.id not in lasts]
        if unclaimed and at > now:
            log.warning(
                "%d job(s) have no claim in Redis (%s): their fires from %s to %s are not started (a leader "
                "whose clock ran ahead may have run some before Redis lost its data): %s",
                len(unclaimed),
                reason,
                now.isoformat(),
                at.isoformat(),
                ", ".join(sorted(unclaimed)[:20]) + (" ..." if len(unclaimed) > 20 else ""),
            )

    def _resume_at(self, spec: JobSpec, now: datetime, floor: datetime | None, last: datetime | None) -> Any:
        if last is None:  # never claimed (or the ledger lost it): no catch-up, start after the floor
            return spec.trigger.get_next_fire_time(None, floor or now) or undefined
        grace = spec.misfire_grace_time if spec.misfire_grace_time is not None else self._default_grace
        earliest = now - timedelta(seconds=grace)
        resume = _first_after(spec, last)
        if resume is not None and resume < earliest:
            log.warning(
                "job %s: fires from %s until %s were missed while no scheduler ran "
                "(older than its misfire grace of %gs)",
                spec.id,
                resume.isoformat(),
                earliest.isoformat(),
                grace,
            )
            self.dispatcher.missed_before_start(spec.id, resume, earliest)
            resume = spec.trigger.get_next_fire_time(None, earliest)
        return undefined if resume is None else resume


def _first_after(spec: JobSpec, last: datetime) -> datetime | None:
    """The job's first fire after ``last``, on its own schedule.

    Not APScheduler's "previous fire plus the interval": after a floor, ``last`` is an instant
    off an interval job's grid, and every later fire would stay off it.
    """
    first: datetime | None = spec.trigger.get_next_fire_time(None, last + timedelta(microseconds=1))
    return first


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()
