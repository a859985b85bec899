"""The fire path: gate, misfire check, claim, run, log and record one scheduled or manual fire."""

from __future__ import annotations

import asyncio
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
    term: int | None = None


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
        self._lock = threading.Condition()
        self._in_flight: set[_Flight] = set()
        self.states: dict[str, JobState] = {spec_id: JobState() for spec_id in specs}
        for record in ledger.last_runs().values():
            if record.job_id in self.states:
                self.states[record.job_id] = JobState(record.scheduled_at, record.outcome)

    def run(self, job_id: str, scheduled_at: datetime, run_id: str | None = None, trigger: str = "schedule") -> None:
        """Run one fire if the gate is open, it is not too late, and the ledger grants it.

        The fire counts as in flight from the first check, so a stop that waits for
        idleness cannot slip between the gate and the claim.
        """
        flight = _Flight(job_id, scheduled_at, run_id or uuid.uuid4().hex[:16], trigger)
        with self._lock:
            self._in_flight.add(flight)
        try:
            self._gate_claim_execute(flight)
        finally:
            with self._lock:
                self._in_flight.discard(flight)
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
            self._ledger.finish(self._run_record(flight, "abandoned", "the scheduler stopped before the job ended"))

    def _gate_claim_execute(self, flight: _Flight) -> None:
        spec = self._specs[flight.job_id]
        if not self._still_due(spec, flight.scheduled_at):
            return
        if spec.jitter and flight.trigger == "schedule":
            time.sleep(random.uniform(0, spec.jitter))
        term = self._may_dispatch()
        if term is None:
            log.info(
                "fire not started job=%s scheduled_at=%s node=%s: not leading",
                spec.id,
                flight.scheduled_at.isoformat(),
                self._node,
            )
            return
        claim = self._ledger.claim(
            spec.id, flight.scheduled_at, term, self._node, flight.run_id, manual=flight.trigger == "manual"
        )
        if claim is not ClaimResult.CLAIMED:
            self._refused(flight, claim)
            return
        flight.claimed, flight.term = True, term.token
        ctx = RunContext(spec.id, flight.scheduled_at, self._node, term.token, flight.run_id, term.is_current)
        self._execute(spec, ctx, flight)

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
            self._ledger.finish(self._run_record(flight, "skipped", "claim not acknowledged by enough replicas"))

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
        self._ledger.finish(self._run_record(flight, outcome, error))
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
            term=flight.term,
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
    """An APScheduler executor that hands each due time to :class:`FireRunner`.

    APScheduler decides what is due (triggers, coalescing, max_instances); this
    executor adds what it lacks: the scheduled time in the job's context, the
    leadership gate and the claim.
    """

    def __init__(self, runner: FireRunner, max_workers: int) -> None:
        super().__init__()
        self._runner = runner
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="job")

    def shutdown(self, wait: bool = True) -> None:
        # Queued fires were not claimed yet, so a successor may still run them.
        self._pool.shutdown(wait=wait, cancel_futures=True)

    def submit_manual(self, job_id: str, scheduled_at: datetime, run_id: str) -> None:
        """Run an operator's 'run now' as a fire of its own (claimed like any other)."""
        self._pool.submit(self._runner.run, job_id, scheduled_at, run_id, "manual")

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        future = self._pool.submit(self._run_all, job.id, run_times)
        future.add_done_callback(lambda done: self._finished(job.id, done))

    def _run_all(self, job_id: str, run_times: list[datetime]) -> None:
        for run_time in run_times:
            self._runner.run(job_id, run_time)

    def _finished(self, job_id: str, future: Future[None]) -> None:
        error = None if future.cancelled() else future.exception()
        if error is None:
            self._run_job_success(job_id, [])
        else:
            self._run_job_error(job_id, error, error.__traceback__)
