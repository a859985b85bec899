"""Running claimed fires: the last check before a job starts, its hooks, attempts and log lines.

A claim can wait (a catch-up running fires one by one, jitter, busy job threads) while the
node loses its lease or host lock; starting it then could overlap the new leader's work, so
each fire is checked against its term right before it starts.
"""

from __future__ import annotations

import logging

from scheduler_proc import clock
from scheduler_proc.hooks import AFTER, HookCall, Hooks
from scheduler_proc.jobs import JobSpec, RunContext
from scheduler_proc.runner.attempts import run_attempts
from scheduler_proc.runner.flight import Flight, fire_fields
from scheduler_proc.runner.flights import FlightTable
from scheduler_proc.runner.metrics import Metrics
from scheduler_proc.runner.records import FireRecords

log = logging.getLogger("scheduler.fire")


def start_refusal(flight: Flight) -> str:
    """Why a claimed fire must not start now ('' if it may): its term ended since its claim."""
    assert flight.term is not None
    if flight.term.is_current():
        return ""  # a runner that is stopping still starts what it claimed: nobody else will
    what = f"leadership term {flight.term.fencing_token}" if flight.term.fencing_token is not None else "host lock"
    return f"the {what} it was claimed under ended before it could start"


class FireExecution:
    """Runs claimed fires on the calling thread, each one leaving the flight table when it ends."""

    def __init__(
        self,
        specs: dict[str, JobSpec],
        node: str,
        table: FlightTable,
        records: FireRecords,
        metrics: Metrics,
        hooks: Hooks,
    ) -> None:
        self._specs = specs
        self._node = node
        self._table = table
        self._records = records
        self._metrics = metrics
        self._hooks = hooks

    def run_claimed(self, flights: list[Flight]) -> None:
        """Run claimed fires one after the other, each checked right before it starts."""
        for index, flight in enumerate(flights):
            try:
                refusal = start_refusal(flight)
                if refusal:
                    self._skip(flight, refusal)
                else:
                    self._execute(self._specs[flight.job_id], flight)
            finally:
                self._table.release(flights[index : index + 1])

    def _skip(self, flight: Flight, reason: str) -> None:
        self._records.skip_hook(flight, reason)
        log.warning("fire skipped %s: %s", fire_fields(flight, self._node), reason)
        self._metrics.fire_refused(flight.job_id, "not_current")
        self._metrics.fire_skipped(flight.job_id, "not_current")
        self._records.skipped(flight, reason)
        flight.decide(reason)

    def _execute(self, spec: JobSpec, flight: Flight) -> None:
        """Run the job; everything not needed to start it (metrics, state, records) happens on the recorder's thread."""
        assert flight.term is not None
        term = flight.term
        fields = fire_fields(flight, self._node)
        ctx = RunContext(spec.id, flight.scheduled_at, self._node, term.fencing_token, flight.run_id, term.is_current)
        flight.started_at = clock.wall()
        flight.decide("ran")
        verbose = log.isEnabledFor(logging.INFO)
        if verbose:
            log.info("fire start %s term=%s origin=%s", fields, term.fencing_token, flight.origin)
        self._metrics.started(spec.id)
        try:
            self._hooks.call(HookCall("start", ctx))
            ended = run_attempts(spec, ctx, fields, lambda: self._metrics.fire_retried(spec.id))
        finally:
            self._metrics.ended(spec.id)
        run = self._records.run_record(flight, ended.outcome, ended.error, ended.attempts)
        self._records.recorder.record(run)
        self._hooks.call(
            HookCall(
                AFTER[ended.outcome], ctx, ended.outcome, ended.error, ended.exception, run.duration, ended.attempts
            )
        )
        if verbose:
            log.info(
                "fire end %s duration=%.3fs outcome=%s%s",
                fields,
                run.duration,
                ended.outcome,
                f" attempts={ended.attempts}" if ended.attempts > 1 else "",
            )
