"""What a fire leaves behind: its run record, the status page's last run, and the skip hooks.

Kept apart from claiming and running so that the shape of the history (and what counts as
"the job's last run") changes in one place. Records are written on the recorder's thread:
the fire path only hands them over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from scheduler_proc import clock
from scheduler_proc.coordination.interfaces import Ledger
from scheduler_proc.coordination.records import Run
from scheduler_proc.formats.vocabulary import LastOutcome, RunOutcome
from scheduler_proc.hooks import HookCall, Hooks
from scheduler_proc.jobs import RunContext
from scheduler_proc.runner.flight import Flight
from scheduler_proc.runner.metrics import Metrics
from scheduler_proc.runner.recorder import Recorder

#: Outcomes of runs that ran: they count in the metrics and as the job's last run.
_RAN: tuple[RunOutcome, ...] = ("success", "error", "timed_out")


@dataclass
class JobState:
    """What status pages show about a job's latest run."""

    last_run_at: datetime | None = None
    last_outcome: LastOutcome | None = None


def _never_current() -> bool:
    """A skipped fire's context: it does not run under any term."""
    return False


class FireRecords:
    """Writes run records through a :class:`Recorder` and keeps each job's latest run for status pages."""

    def __init__(self, job_ids: list[str], ledger: Ledger, node: str, metrics: Metrics, hooks: Hooks) -> None:
        self._node = node
        self._metrics = metrics
        self._hooks = hooks
        self.activity = 0  # counts claims and recorded runs: readers of the ledger's last runs look when it moves
        self.states: dict[str, JobState] = {job_id: JobState() for job_id in job_ids}
        for record in ledger.last_runs().values():
            if record.job_id in self.states:
                self.states[record.job_id] = JobState(record.scheduled_at, record.outcome)
        # Made after the ledger answered: a ledger that cannot be read leaves no writer thread behind.
        self.recorder = Recorder(ledger, self._note_finished)

    def skip_hook(self, flight: Flight, reason: str) -> None:
        """The skip hooks, for a fire that will not run (it has no term when its claim was refused)."""
        ctx = RunContext(
            flight.job_id, flight.scheduled_at, self._node, flight.fencing_token, flight.run_id, _never_current
        )
        self._hooks.call(HookCall("skip", ctx, "skipped", reason))

    def skipped(self, flight: Flight, reason: str) -> None:
        """A ``skipped`` record saying why the fire did not run."""
        flight.started_at = clock.wall()
        self.recorder.record(self.run_record(flight, "skipped", reason))

    def abandoned(self, flights: list[Flight]) -> None:
        """Fires still running when the process is about to exit."""
        for flight in flights:
            self.recorder.record(self.run_record(flight, "abandoned", "the scheduler stopped before the job ended"))

    def run_record(self, flight: Flight, outcome: RunOutcome, error: str | None, attempts: int = 1) -> Run:
        """The history's record of the fire, ending now."""
        return Run(
            job_id=flight.job_id,
            run_id=flight.run_id,
            scheduled_at=flight.scheduled_at,
            node=self._node,
            term=flight.fencing_token,
            origin=flight.origin,
            started_at=flight.started_at,
            finished_at=clock.wall(),
            outcome=outcome,
            error=error,
            attempts=attempts,
        )

    def _note_finished(self, runs: list[Run]) -> None:
        """On the recorder's thread: metrics and the status page's last run, for runs that ran."""
        for run in runs:
            if run.outcome in _RAN:
                scheduled = run.scheduled_at.timestamp()
                self._metrics.fire_finished(
                    run.job_id, run.outcome, run.duration or 0.0, run.started_at - scheduled, run.finished_at or 0.0
                )
                self.states[run.job_id] = JobState(run.scheduled_at, run.outcome)
        self.activity += 1  # a lost increment between threads still moves it: readers only compare
