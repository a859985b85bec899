"""The fire path: gate, misfire check, claim, run, log and record one scheduled or manual fire."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from apscheduler.executors.base import BaseExecutor
from apscheduler.job import Job

from scheduler_proc.jobs import JobSpec, RunContext
from scheduler_proc.ledger import ClaimResult, Ledger, Run
from scheduler_proc.metrics import Metrics
from scheduler_proc.recorder import Recorder

log = logging.getLogger("scheduler.fire")


@dataclass(frozen=True)
class Term:
    """The leadership this process runs fires under.

    ``token`` is the fencing token (None in single-host mode); ``lease_token`` is the
    secret the Redis scripts compare to accept a claim.
    """

    token: int | None
    is_current: Callable[[], bool]
    lease_token: str | None = None


@dataclass(eq=False)
class _Flight:
    """One fire between its first check and its end; ``claimed`` once the ledger granted it."""

    job_id: str
    scheduled_at: datetime
    run_id: str
    trigger: str
    claimed: bool = False
    started_at: float = 0.0
    lease: Term | None = None  # the term it was claimed under


@dataclass
class JobState:
    """What status pages show about a job's latest run."""

    last_run_at: datetime | None = None
    last_outcome: str | None = None


class FireRunner:
    """Runs fires; knows which are in flight so a stop can wait for them."""

    def __init__(
        self,
        specs: dict[str, JobSpec],
        ledger: Ledger,
        node: str,
        default_misfire_grace: float,
        may_dispatch: Callable[[], Term | None],
        metrics: Metrics | None = None,
    ) -> None:
        self._specs = specs
        self._ledger = ledger
        self._node = node
        self._default_grace = default_misfire_grace
        self._may_dispatch = may_dispatch
        self._metrics = metrics or Metrics(node)
        self.recorder = Recorder(ledger)
        self._lock = threading.Condition()
        self._in_flight: set[_Flight] = set()
        self.states: dict[str, JobState] = {spec_id: JobState() for spec_id in specs}
        for record in ledger.last_runs().values():
            if record.job_id in self.states:
                self.states[record.job_id] = JobState(record.scheduled_at, record.outcome)

    def claim(self, batch: list[tuple[str, list[datetime], str | None, str]]) -> list[list[_Flight]]:
        """Gate, misfire-check and claim a batch of due fires in one ledger round trip.

        ``batch`` holds (job id, scheduled times, run id, trigger) per submission; the
        result holds each submission's claimed fires, to run in order. Fires count as
        in flight from before the gate, so a stop that waits for idleness cannot slip
        between the gate and the claim.
        """
        groups = [
            [_Flight(job_id, at, run_id or uuid.uuid4().hex[:16], trigger) for at in times]
            for job_id, times, run_id, trigger in batch
        ]
        flights = [flight for group in groups for flight in group]
        with self._lock:
            self._in_flight.update(flights)
        try:
            self._claim(flights)
        finally:
            self._release([flight for flight in flights if not flight.claimed])
        return [[flight for flight in group if flight.claimed] for group in groups]

    def run(self, job_id: str, scheduled_at: datetime, run_id: str | None = None, trigger: str = "schedule") -> None:
        """Claim and run one fire in this thread."""
        [flights] = self.claim([(job_id, [scheduled_at], run_id, trigger)])
        self.run_claimed(flights)

    def run_claimed(self, flights: list[_Flight]) -> None:
        """Run claimed fires one after the other (a coalesce=False catch-up runs in order)."""
        for index, flight in enumerate(flights):
            try:
                spec = self._specs[flight.job_id]
                if spec.jitter and flight.trigger == "schedule":
                    time.sleep(random.uniform(0, spec.jitter))
                assert flight.lease is not None
                ctx = RunContext(
                    spec.id, flight.scheduled_at, self._node, flight.lease.token, flight.run_id, flight.lease.is_current
                )
                self._execute(spec, ctx, flight)
            finally:
                self._release(flights[index : index + 1])

    def _claim(self, flights: list[_Flight]) -> None:
        due = [flight for flight in flights if self._still_due(self._specs[flight.job_id], flight.scheduled_at)]
        if not due:
            return
        term = self._may_dispatch()
        if term is None:
            for flight in due:
                log.info(
                    "fire not started job=%s scheduled_at=%s node=%s: not leading",
                    flight.job_id,
                    flight.scheduled_at.isoformat(),
                    self._node,
                )
            return
        requests = [(f.job_id, f.scheduled_at, f.run_id, f.trigger == "manual") for f in due]
        for flight, result in zip(due, self._ledger.claim_many(requests, term, self._node), strict=True):
            if result is ClaimResult.CLAIMED:
                flight.claimed, flight.lease = True, term
            else:
                self._refused(flight, result)

    def _release(self, flights: list[_Flight]) -> None:
        if flights:
            with self._lock:
                self._in_flight.difference_update(flights)
                self._lock.notify_all()

    def in_flight(self) -> list[str]:
        """Job ids of the fires running now."""
        with self._lock:
            return [flight.job_id for flight in self._in_flight if flight.claimed]

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no fire runs; False if some still run when ``timeout`` expires."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._in_flight, timeout)

    def abandon_in_flight(self) -> None:
        """Record the fires still running as abandoned: the process is about to exit."""
        with self._lock:
            running = [flight for flight in self._in_flight if flight.claimed]
        for flight in running:
            self.recorder.record(self._run_record(flight, "abandoned", "the scheduler stopped before the job ended"))

    def _refused(self, flight: _Flight, claim: ClaimResult) -> None:
        log.warning(
            "fire refused job=%s scheduled_at=%s node=%s reason=%s",
            flight.job_id,
            flight.scheduled_at.isoformat(),
            self._node,
            claim.value,
        )
        self._metrics.fire_refused(flight.job_id, claim.value)
        if claim is ClaimResult.UNREPLICATED:
            flight.started_at = time.time()
            self.recorder.record(self._run_record(flight, "skipped", "claim not acknowledged by enough replicas"))

    def _still_due(self, spec: JobSpec, scheduled_at: datetime) -> bool:
        grace = spec.misfire_grace_time if spec.misfire_grace_time is not None else self._default_grace
        late = (datetime.now(UTC) - scheduled_at).total_seconds()
        if late > grace:
            log.warning(
                "fire missed job=%s scheduled_at=%s node=%s: %.1fs late, misfire grace is %gs",
                spec.id,
                scheduled_at.isoformat(),
                self._node,
                late,
                grace,
            )
            return False
        return True

    def _execute(self, spec: JobSpec, ctx: RunContext, flight: _Flight) -> None:
        flight.started_at = time.time()
        started = time.monotonic()
        log.info(
            "fire start job=%s scheduled_at=%s node=%s run_id=%s term=%s trigger=%s",
            spec.id,
            ctx.scheduled_at.isoformat(),
            ctx.node,
            ctx.run_id,
            ctx.fencing_token,
            flight.trigger,
        )
        outcome, error = "success", None
        try:
            _call(spec, ctx)
        except BaseException as exc:  # a job must never take the scheduler down
            outcome, error = "error", f"{type(exc).__name__}: {exc}"[:500]
            log.error(
                "fire failed job=%s scheduled_at=%s node=%s run_id=%s\n%s",
                spec.id,
                ctx.scheduled_at.isoformat(),
                ctx.node,
                ctx.run_id,
                traceback.format_exc().rstrip(),
            )
        duration = time.monotonic() - started
        self.recorder.record(self._run_record(flight, outcome, error))
        self._metrics.fire_finished(spec.id, outcome, duration, flight.started_at - ctx.scheduled_at.timestamp())
        log.info(
            "fire end job=%s scheduled_at=%s node=%s run_id=%s duration=%.3fs outcome=%s",
            spec.id,
            ctx.scheduled_at.isoformat(),
            ctx.node,
            ctx.run_id,
            duration,
            outcome,
        )
        with self._lock:
            self.states[spec.id] = JobState(ctx.scheduled_at, outcome)

    def _run_record(self, flight: _Flight, outcome: str, error: str | None) -> Run:
        return Run(
            job_id=flight.job_id,
            run_id=flight.run_id,
            scheduled_at=flight.scheduled_at,
            node=self._node,
            term=flight.lease.token if flight.lease else None,
            trigger=flight.trigger,
            started_at=flight.started_at,
            finished_at=time.time(),
            outcome=outcome,
            error=error,
        )


def _call(spec: JobSpec, ctx: RunContext) -> None:
    args: tuple[Any, ...] = (ctx,) if spec.wants_context else ()
    if spec.is_async:
        asyncio.run(spec.func(*args))
    else:
        spec.func(*args)


class FireExecutor(BaseExecutor):  # type: ignore[misc]  # APScheduler 3 ships no types
    """An APScheduler executor that hands due times to :class:`FireRunner`.

    APScheduler decides what is due (triggers, coalescing, max_instances); this
    executor adds what it lacks: the scheduled time in the job's context, the
    leadership gate and the claim. Submissions of one scheduler wake-up are claimed
    together in :meth:`flush` (one ledger round trip for a burst of due jobs).
    """

    def __init__(self, runner: FireRunner, max_workers: int) -> None:
        super().__init__()
        self._runner = runner
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="job")
        self._pending: list[tuple[str, list[datetime]]] = []  # touched by APScheduler's thread only

    def shutdown(self, wait: bool = True) -> None:
        # Fires reach the pool already claimed, so queued ones must still run: nothing is cancelled.
        self._pool.shutdown(wait=wait)

    def flush(self) -> None:
        """Claim everything APScheduler submitted in this wake-up at once, then hand it to the pool."""
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            groups = self._runner.claim([(job_id, times, None, "schedule") for job_id, times in batch])
        except Exception:
            log.exception("claiming %d due fire(s) failed; they are not run", len(batch))
            groups = [[] for _ in batch]
        for (job_id, _), flights in zip(batch, groups, strict=True):
            self._start(flights, functools.partial(self._finished, job_id))

    def submit_manual(self, job_id: str, scheduled_at: datetime, run_id: str) -> None:
        """Run an operator's 'run now' as a fire of its own (claimed like any other)."""
        [flights] = self._runner.claim([(job_id, [scheduled_at], run_id, "manual")])
        self._start(flights, None)

    def _start(self, flights: list[Any], done: Callable[[Future[None]], None] | None) -> None:
        try:
            future = self._pool.submit(self._runner.run_claimed, flights)
        except RuntimeError:  # the pool is shutting down: claimed fires still run, here
            self._runner.run_claimed(flights)
            future = Future()
            future.set_result(None)
        if done is not None:
            future.add_done_callback(done)

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        self._pending.append((job.id, list(run_times)))

    def _finished(self, job_id: str, future: Future[None]) -> None:
        error = None if future.cancelled() else future.exception()
        if error is None:
            self._run_job_success(job_id, [])
        else:
            self._run_job_error(job_id, error, error.__traceback__)
