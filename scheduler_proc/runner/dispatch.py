"""The fire path: gate, misfire check, claim, run, log and record one scheduled or manual fire.

:class:`Dispatcher` ties the parts together, one module each: the flight table
(:mod:`~scheduler_proc.runner.flights`), claims and their retries
(:mod:`~scheduler_proc.runner.claims`, :mod:`~scheduler_proc.runner.misfire`,
:mod:`~scheduler_proc.runner.refusals`, :mod:`~scheduler_proc.runner.waiting`), running claimed
fires (:mod:`~scheduler_proc.runner.execution`) and what they leave behind
(:mod:`~scheduler_proc.runner.records`). Terms (*fire*, *claim*, *flight*) are defined in
:mod:`~scheduler_proc.runner.flight`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from scheduler_proc.coordination.interfaces import Ledger
from scheduler_proc.coordination.records import LiveRun
from scheduler_proc.coordination.term import Term, new_run_id
from scheduler_proc.formats.vocabulary import RunOrigin
from scheduler_proc.hooks import Hooks
from scheduler_proc.jobs import JobSpec
from scheduler_proc.runner.claims import Claimer
from scheduler_proc.runner.execution import FireExecution
from scheduler_proc.runner.flight import Flight
from scheduler_proc.runner.flights import FlightTable
from scheduler_proc.runner.instances import Instances
from scheduler_proc.runner.metrics import Metrics
from scheduler_proc.runner.misfire import MisfireCheck
from scheduler_proc.runner.recorder import Recorder
from scheduler_proc.runner.records import FireRecords, JobState
from scheduler_proc.runner.refusals import ClaimRefusals
from scheduler_proc.runner.waiting import WaitingFires

#: Fires missed while no scheduler ran are counted up to this many per job at each start (a
#: job every second stopped for a day would cost a long loop); the log line gives the range.
MISSED_COUNTED = 1000

#: One submission of due fires: job id, scheduled times, run id (None: a new one per fire), origin.
Submission = tuple[str, list[datetime], str | None, RunOrigin]


def _nothing() -> None:
    """Default progress callback."""


class Dispatcher:
    """Runs fires; knows which are in flight so a stop can wait for them."""

    def __init__(
        self,
        specs: dict[str, JobSpec],
        ledger: Ledger,
        node: str,
        default_misfire_grace: float,
        dispatch_term: Callable[[], Term | None],
        metrics: Metrics | None = None,
        progress: Callable[[], None] = _nothing,
        instances: Instances | None = None,
        hooks: Hooks | None = None,
    ) -> None:
        self._specs = specs
        hooks = hooks or Hooks()
        self._metrics = metrics or Metrics(node)
        # Shared by every engine of the process: runs of an earlier term count against max_instances.
        self._table = FlightTable(instances or Instances())
        self._records = FireRecords(list(specs), ledger, node, self._metrics, hooks)
        self._waiting = WaitingFires(specs, node, self._metrics)
        self._claimer = Claimer(
            specs,
            ledger,
            node,
            dispatch_term,
            self._table,
            MisfireCheck(specs, default_misfire_grace, node, self._metrics),
            ClaimRefusals(node, self._metrics, self._records),
            self._waiting,
            self._records,
            progress,
        )
        self._execution = FireExecution(specs, node, self._table, self._records, self._metrics, hooks)

    @property
    def recorder(self) -> Recorder:
        """Writes finished runs to the ledger on its own thread."""
        return self._records.recorder

    @property
    def states(self) -> dict[str, JobState]:
        """Each job's latest run, for status pages."""
        return self._records.states

    @property
    def activity(self) -> int:
        """Moves with every claim and recorded run: readers of the ledger's last runs look when it moved."""
        return self._records.activity

    def claim(self, batch: list[Submission]) -> list[list[Flight]]:
        """Gate, misfire-check and claim a batch of due fires in one ledger round trip.

        The result holds each submission's claimed fires, to run in order. Fires count as
        in flight from before the gate, so a stop that waits for idleness cannot slip
        between the gate and the claim.
        """
        groups = [
            [Flight(job_id, at, run_id or new_run_id(), origin, group=index) for at in times]
            for index, (job_id, times, run_id, origin) in enumerate(batch)
        ]
        self._claimer.claim([flight for group in groups for flight in group])
        return [[flight for flight in group if flight.claimed] for group in groups]

    def claim_manual(self, job_id: str, scheduled_at: datetime) -> Flight:
        """Claim an operator's 'run now' (a fresh run id: a command seen again elsewhere finds it claimed)."""
        flight = Flight(job_id, scheduled_at, new_run_id(), "manual", decided=threading.Event())
        self._claimer.claim([flight])
        return flight

    def retry_waiting(self) -> list[list[Flight]]:
        """Claim again the fires that waited for a running instance; the claimed ones, grouped per job."""
        return self._waiting.retry(self._claimer.claim)

    def drop_waiting(self) -> None:
        """The scheduler stops: fires still waiting are left unclaimed, for the next leader to catch up."""
        self._waiting.drop()

    def missed_before_start(self, job_id: str, first: datetime, until: datetime) -> None:
        """Count the fires from ``first`` until before ``until``, missed while no scheduler ran (the engine
        finds them when it resumes a job); those an earlier term of this process counted are not counted again."""
        since = self._metrics.missed_since(job_id, first, until)
        self._metrics.fire_missed(job_id, self._specs[job_id].fires_between(since, until, MISSED_COUNTED))

    def skipped(self, job_id: str, reason: str, count: int) -> None:
        """Count fires the scheduler itself did not submit (APScheduler's max_instances, in single-host mode)."""
        self._metrics.fire_skipped(job_id, reason, count)

    def jitter(self, job_id: str) -> float:
        """The job's jitter: its scheduled fires are claimed only after a random delay up to it."""
        return self._specs[job_id].jitter

    def run(
        self, job_id: str, scheduled_at: datetime, run_id: str | None = None, origin: RunOrigin = "schedule"
    ) -> None:
        """Claim and run one fire in this thread."""
        [flights] = self.claim([(job_id, [scheduled_at], run_id, origin)])
        self.run_claimed(flights)

    def run_claimed(self, flights: list[Flight]) -> None:
        """Run claimed fires one after the other, each checked right before it starts."""
        self._execution.run_claimed(flights)

    def claimed_runs(self) -> list[LiveRun]:
        """The claimed fires not ended yet: their running markers are kept alive (and written again if lost)."""
        return self._table.claimed_runs()

    def unstarted(self) -> int:
        """Claimed fires that have not started (nor been refused) yet."""
        return self._table.unstarted()

    def in_flight(self) -> list[str]:
        """Job ids of the fires running now."""
        return [flight.job_id for flight in self._table.running()]

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no fire runs; False if some still run when ``timeout`` expires."""
        return self._table.wait_idle(timeout)

    def abandon_in_flight(self) -> None:
        """Record the fires still running as abandoned: the process is about to exit."""
        self._records.abandoned(self._table.running())
