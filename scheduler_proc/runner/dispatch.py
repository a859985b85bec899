"""The fire path: gate, misfire check, claim, run, log and record one scheduled or manual fire.

Terms used here: a *fire* is one (job id, scheduled instant); a *claim* is the ledger's
record that one run owns a fire (granted at most once); a *flight* is a fire between its
first check and its end in this process.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from scheduler_proc import clock
from scheduler_proc.coordination.interfaces import Ledger
from scheduler_proc.coordination.records import ClaimRequest, ClaimResult, LiveRun, Run
from scheduler_proc.coordination.term import Term, new_run_id
from scheduler_proc.errors import LedgerError
from scheduler_proc.hooks import AFTER, HookCall, Hooks
from scheduler_proc.jobs import JobSpec, RunContext
from scheduler_proc.runner.attempts import run_attempts
from scheduler_proc.runner.instances import Instances
from scheduler_proc.runner.metrics import Metrics
from scheduler_proc.runner.recorder import Recorder

log = logging.getLogger("scheduler.fire")

#: Claims that got no answer are sent again after this long, doubling up to _RETRY_MAX, while
#: this node leads and the fires are within their misfire grace (the same run ids: the
#: ledger grants a fire again to the run that claimed it, so a lost reply is harmless).
_RETRY_FIRST = 0.1
_RETRY_MAX = 1.0
#: Fires missed while no scheduler ran are counted up to this many per job at each start (a
#: job every second stopped for a day would cost a long loop); the log line gives the range.
MISSED_COUNTED = 1000


_REFUSALS = {
    ClaimResult.DUPLICATE: "already claimed by another run",
    ClaimResult.FENCED: "this node's leadership term is no longer current",
    ClaimResult.UNREPLICATED: "claim not acknowledged by enough replicas",
    ClaimResult.UNAVAILABLE: (
        "no answer from the ledger, and this node no longer leads; if the claim reached Redis, "
        "the fire counts as run (at most once)"
    ),
    ClaimResult.FLOORED: (
        "skipped: scheduled before the cluster's floor (Redis may have lost the claims of that time, "
        "so it cannot be proven unrun)"
    ),
    ClaimResult.BUSY: "max_instances of the job are running already (in this process, under any term, or elsewhere)",
    ClaimResult.EARLY: (
        "the claim reached Redis more than 2 x SCHEDULER_MAX_CLOCK_OFFSET before the fire's time by Redis's "
        "clock: this host's clock runs ahead (it steps down), so the fire is left to whoever leads when it is due"
    ),
}


def _nothing() -> None:
    """Default progress callback."""


def _never_current() -> bool:
    """A skipped fire's context: it does not run under any term."""
    return False


@dataclass(eq=False)
class Flight:
    """One fire between its first check and its end; ``claimed`` once the ledger granted it."""

    job_id: str
    scheduled_at: datetime
    run_id: str
    trigger: str
    claimed: bool = False
    started_at: float = 0.0
    lease: Term | None = None  # the term it was claimed under
    decided: threading.Event | None = None  # set once it started or was refused (manual runs wait on it)
    verdict: str = ""  # what became of it: "ran", or why it did not run
    refusal: ClaimResult | None = None  # the ledger's answer, when it refused the claim
    waited: bool = False  # it waited for a running instance (logged once)
    group: int = 0  # fires of one submission share it: they run one after the other, never side by side


@dataclass
class JobState:
    """What status pages show about a job's latest run."""

    last_run_at: datetime | None = None
    last_outcome: str | None = None


class Dispatcher:
    """Runs fires; knows which are in flight so a stop can wait for them."""

    def __init__(
        self,
        specs: dict[str, JobSpec],
        ledger: Ledger,
        node: str,
        default_misfire_grace: float,
        may_dispatch: Callable[[], Term | None],
        metrics: Metrics | None = None,
        progress: Callable[[], None] = _nothing,
        instances: Instances | None = None,
        hooks: Hooks | None = None,
    ) -> None:
        self._specs = specs
        self._hooks = hooks or Hooks()
        # Shared by every engine of the process: runs of an earlier term count against max_instances.
        self._instances = instances or Instances()
        self._progress = progress  # claim retries keep the watchdog fed: waiting on Redis is not a hang
        self._ledger = ledger
        self._node = node
        self._default_grace = default_misfire_grace
        self._may_dispatch = may_dispatch
        self._metrics = metrics or Metrics(node)
        self._lock = threading.Condition()
        self._in_flight: set[Flight] = set()
        self._waiting: dict[str, list[Flight]] = {}  # refused as BUSY: retried while due
        self._not_started = 0  # fires not run since the ledger stopped recording claims
        self.activity = 0  # counts claims and recorded runs: readers of the ledger's last runs look when it moves
        self.states: dict[str, JobState] = {spec_id: JobState() for spec_id in specs}
        for record in ledger.last_runs().values():
            if record.job_id in self.states:
                self.states[record.job_id] = JobState(record.scheduled_at, record.outcome)
        # Made after the ledger answered: a ledger that cannot be read leaves no writer thread behind.
        self.recorder = Recorder(ledger, self._note_finished)

    def claim(self, batch: list[tuple[str, list[datetime], str | None, str]]) -> list[list[Flight]]:
        """Gate, misfire-check and claim a batch of due fires in one ledger round trip.

        ``batch`` holds (job id, scheduled times, run id, trigger) per submission; the
        result holds each submission's claimed fires, to run in order. Fires count as
        in flight from before the gate, so a stop that waits for idleness cannot slip
        between the gate and the claim.
        """
        groups = [
            [Flight(job_id, at, run_id or new_run_id(), trigger, group=index) for at in times]
            for index, (job_id, times, run_id, trigger) in enumerate(batch)
        ]
        self._claim_tracked([flight for group in groups for flight in group])
        return [[flight for flight in group if flight.claimed] for group in groups]

    def claim_manual(self, job_id: str, scheduled_at: datetime) -> Flight:
        """Claim an operator's 'run now' (a fresh run id: a command seen again elsewhere finds it claimed)."""
        flight = Flight(job_id, scheduled_at, new_run_id(), "manual", decided=threading.Event())
        self._claim_tracked([flight])
        return flight

    def _claim_tracked(self, flights: list[Flight]) -> None:
        with self._lock:
            self._in_flight.update(flights)
        try:
            self._claim(flights)
        finally:
            self._release([flight for flight in flights if not flight.claimed])

    def retry_waiting(self) -> list[list[Flight]]:
        """Claim again the fires that waited for a running instance; the claimed ones, grouped per job.

        A fire that waited past its misfire grace is logged as missed; a job that coalesces
        keeps only its latest waiting fire.
        """
        with self._lock:
            waiting, self._waiting = self._waiting, {}
        claimed = []
        for job_id, flights in waiting.items():
            spec = self._specs[job_id]
            if spec.coalesce and len(flights) > 1:
                for dropped in flights[:-1]:
                    self._decided(dropped, "coalesced into a later fire")
                self._metrics.fire_skipped(job_id, "coalesced", len(flights) - 1)
                flights = flights[-1:]
            first, rest = flights[0], flights[1:]
            self._claim_tracked([first])
            if first.claimed:
                claimed.append([first])
            if rest:
                with self._lock:
                    self._waiting.setdefault(job_id, []).extend(rest)
        return claimed

    def drop_waiting(self) -> None:
        """The scheduler stops: fires still waiting are left unclaimed, for the next leader to catch up."""
        with self._lock:
            waiting, self._waiting = self._waiting, {}
        for flights in waiting.values():
            for flight in flights:
                log.info(
                    "fire not started %s: it waited for a running instance when this node stopped leading",
                    self._fields(flight),
                )
                self._decided(flight, "not started: this node stopped leading while it waited")

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

    def run(self, job_id: str, scheduled_at: datetime, run_id: str | None = None, trigger: str = "schedule") -> None:
        """Claim and run one fire in this thread."""
        [flights] = self.claim([(job_id, [scheduled_at], run_id, trigger)])
        self.run_claimed(flights)

    def run_claimed(self, flights: list[Flight]) -> None:
        """Run claimed fires one after the other, each checked right before it starts."""
        for index, flight in enumerate(flights):
            try:
                refusal = self._start_refusal(flight)
                if refusal:
                    self._skip(flight, refusal)
                else:
                    self._execute(self._specs[flight.job_id], flight)
            finally:
                self._release(flights[index : index + 1])

    def _start_refusal(self, flight: Flight) -> str:
        """Why a claimed fire must not start now ('' if it may): checked right before the job runs.

        A claim can wait (a catch-up running fires one by one, jitter, busy job threads)
        while the node loses its lease or host lock; starting it then could overlap the
        new leader's work.
        """
        assert flight.lease is not None
        if flight.lease.is_current():
            return ""  # a runner that is stopping still starts what it claimed: nobody else will
        what = f"leadership term {flight.lease.token}" if flight.lease.token is not None else "host lock"
        return f"the {what} it was claimed under ended before it could start"

    def _skip(self, flight: Flight, reason: str) -> None:
        self._skipped_hook(flight, reason)
        log.warning("fire skipped %s: %s", self._fields(flight), reason)
        self._metrics.fire_refused(flight.job_id, "not_current")
        self._metrics.fire_skipped(flight.job_id, "not_current")
        flight.started_at = clock.wall()
        self.recorder.record(self._run_record(flight, "skipped", reason))
        self._decided(flight, reason)

    @staticmethod
    def _decided(flight: Flight, verdict: str) -> None:
        flight.verdict = verdict
        if flight.decided is not None:
            flight.decided.set()

    def _claim(self, flights: list[Flight]) -> None:
        """Claim the fires still due, each holding a place among the process's instances of its job
        from before it asks the ledger until its run ends (given back if it is not claimed)."""
        pending = self._due(flights)
        ahead = self._reserve(pending)
        try:
            self._claim_due(pending, ahead)
        finally:
            for flight in pending:
                if not flight.claimed:
                    self._instances.release(flight.job_id)

    def _reserve(self, flights: list[Flight]) -> dict[Flight, int]:
        """Take a place per fire; how many runs of its job the ledger must count as this process's.

        That is every run of this process (all engines, all terms) and every claim that took
        its place before this one, but not the earlier fires of the same submission: those
        run one after the other on one thread. A claim that took its place later counts this
        one, so of two claims at once at most one sees a free place. Kept through retries: a
        count that grew stale only ever counts a run that ended since (safe).
        """
        ahead: dict[Flight, int] = {}
        same_submission: collections.Counter[tuple[str, int]] = collections.Counter()
        for flight in flights:
            ahead[flight] = self._instances.reserve(flight.job_id) - same_submission[flight.job_id, flight.group]
            same_submission[flight.job_id, flight.group] += 1
        return ahead

    def _claim_due(self, pending: list[Flight], ahead: dict[Flight, int]) -> None:
        """Claim the fires; retry those the ledger did not answer while we lead and they are due."""
        delay, failures = _RETRY_FIRST, 0
        while pending:
            term = self._may_dispatch()
            if term is None:
                self._not_leading(pending, failures)
                return
            unanswered = self._ask_ledger(pending, ahead, term)
            if unanswered is None:
                return
            if not unanswered:
                if failures:
                    log.info("claims answered again after %d retries", failures)
                return
            if not failures:
                log.warning(
                    "claim of %d fire(s) got no answer from the ledger; retrying while this node leads "
                    "and each fire is within its misfire grace",
                    len(unanswered),
                )
            failures += 1
            self._progress()
            time.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX)
            pending = self._due(unanswered)

    def _request(self, flight: Flight, running: int) -> ClaimRequest:
        spec = self._specs[flight.job_id]
        return ClaimRequest(
            flight.job_id, flight.scheduled_at, flight.run_id, flight.trigger == "manual", spec.max_instances, running
        )

    def _wait_for_instance(self, flight: Flight) -> None:
        """A scheduled fire over max_instances waits (retried while within its misfire grace)."""
        if not flight.waited:
            flight.waited = True
            log.info(
                "fire waits %s: max_instances=%d of the job are running already (in this process, under any "
                "term, or on another node); it starts when one ends, if still within its misfire grace",
                self._fields(flight),
                self._specs[flight.job_id].max_instances,
            )
        with self._lock:
            self._waiting.setdefault(flight.job_id, []).append(flight)

    def _due(self, flights: list[Flight]) -> list[Flight]:
        now = clock.wall()
        due = []
        for flight in flights:
            if self._still_due(self._specs[flight.job_id], flight.scheduled_at, now):
                due.append(flight)
            else:
                self._decided(flight, "missed: later than its misfire grace")
        return due

    def _ask_ledger(self, pending: list[Flight], ahead: dict[Flight, int], term: Term) -> list[Flight] | None:
        """Claim the fires under ``term``; those the ledger did not answer, or None when it cannot record
        claims (then none is run: the runner's health shows why, see scheduler_proc.problems)."""
        requests = [self._request(flight, ahead[flight]) for flight in pending]
        try:
            results = self._ledger.claim_many(requests, term, self._node)
        except LedgerError as exc:
            self._unrecordable(pending, exc)
            return None
        if self._not_started:
            log.warning("the ledger records claims again; %d fire(s) were not started meanwhile", self._not_started)
            self._not_started = 0
        unanswered = []
        for flight, result in zip(pending, results, strict=True):
            if result is ClaimResult.CLAIMED:
                flight.claimed, flight.lease = True, term  # it keeps its place until its run ends
                self.activity += 1
            elif result is ClaimResult.UNAVAILABLE:
                unanswered.append(flight)
            elif result is ClaimResult.BUSY and flight.trigger == "schedule":
                self._wait_for_instance(flight)
            else:
                self._refused(flight, result)
        early = [flight for flight, result in zip(pending, results, strict=True) if result is ClaimResult.EARLY]
        if early:
            term.clock_ahead(early[0].scheduled_at)
        return unanswered

    def _unrecordable(self, flights: list[Flight], exc: LedgerError) -> None:
        """Fires whose claim the ledger cannot record are not run: the first says why, a count follows."""
        for flight in flights:
            if not self._not_started:
                log.warning(
                    "fire not started %s: %s; nor are later fires until the ledger records claims again",
                    self._fields(flight),
                    exc.summary,
                )
            self._not_started += 1
            self._decided(flight, f"not started: {exc.summary}")

    def _not_leading(self, flights: list[Flight], failures: int) -> None:
        for flight in flights:
            if failures:
                self._refused(flight, ClaimResult.UNAVAILABLE)
            else:
                log.info("fire not started %s: not leading", self._fields(flight))
                self._decided(flight, "not started: this node does not lead")

    def _release(self, flights: list[Flight]) -> None:
        if flights:
            with self._lock:
                ended = [flight for flight in flights if flight in self._in_flight]
                self._in_flight.difference_update(ended)
                self._lock.notify_all()
            for flight in ended:
                if flight.claimed:
                    self._instances.release(flight.job_id)

    def claimed_runs(self) -> list[LiveRun]:
        """The claimed fires not ended yet: their running markers are kept alive (and written again if lost)."""
        with self._lock:
            return [LiveRun(f.job_id, f.scheduled_at, f.run_id) for f in self._in_flight if f.claimed]

    def unstarted(self) -> int:
        """Claimed fires that have not started (nor been refused) yet."""
        with self._lock:
            return sum(1 for flight in self._in_flight if flight.claimed and not flight.verdict)

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

    def _refused(self, flight: Flight, claim: ClaimResult) -> None:
        reason = _REFUSALS[claim]
        flight.refusal = claim
        log.warning("fire refused %s reason=%s: %s", self._fields(flight), claim.value, reason)
        self._metrics.fire_refused(flight.job_id, claim.value)
        if claim in (ClaimResult.UNREPLICATED, ClaimResult.FLOORED):  # not run anywhere: history says so
            self._metrics.fire_skipped(flight.job_id, claim.value)
            self._skipped_hook(flight, reason)
            flight.started_at = clock.wall()
            self.recorder.record(self._run_record(flight, "skipped", reason))
        self._decided(flight, reason)

    def _still_due(self, spec: JobSpec, scheduled_at: datetime, now: float) -> bool:
        grace = spec.misfire_grace_time if spec.misfire_grace_time is not None else self._default_grace
        grace += spec.jitter  # a jittered fire is claimed after its random delay
        late = now - scheduled_at.timestamp()
        if late > grace:
            log.warning(
                "fire missed job=%s scheduled_at=%s node=%s: %.1fs late, misfire grace is %gs",
                spec.id,
                scheduled_at.isoformat(),
                self._node,
                late,
                grace,
            )
            self._metrics.fire_missed(spec.id)
            return False
        return True

    def _execute(self, spec: JobSpec, flight: Flight) -> None:
        """Run the job; everything not needed to start it (metrics, state, records) happens on the recorder's thread."""
        assert flight.lease is not None
        term = flight.lease
        ctx = RunContext(spec.id, flight.scheduled_at, self._node, term.token, flight.run_id, term.is_current)
        flight.started_at = clock.wall()
        self._decided(flight, "ran")
        verbose = log.isEnabledFor(logging.INFO)
        if verbose:
            log.info("fire start %s term=%s trigger=%s", self._fields(flight), term.token, flight.trigger)
        self._metrics.started(spec.id)
        try:
            self._hooks.call(HookCall("start", ctx))
            ended = run_attempts(spec, ctx, self._fields(flight), lambda: self._metrics.fire_retried(spec.id))
        finally:
            self._metrics.ended(spec.id)
        run = self._run_record(flight, ended.outcome, ended.error, ended.attempts)
        self.recorder.record(run)
        self._hooks.call(
            HookCall(
                AFTER[ended.outcome], ctx, ended.outcome, ended.error, ended.exception, run.duration, ended.attempts
            )
        )
        if verbose:
            log.info(
                "fire end %s duration=%.3fs outcome=%s%s",
                self._fields(flight),
                run.duration,
                ended.outcome,
                f" attempts={ended.attempts}" if ended.attempts > 1 else "",
            )

    def _skipped_hook(self, flight: Flight, reason: str) -> None:
        """The skip hooks, for a fire that will not run (it has no term when its claim was refused)."""
        token = flight.lease.token if flight.lease else None
        ctx = RunContext(flight.job_id, flight.scheduled_at, self._node, token, flight.run_id, _never_current)
        self._hooks.call(HookCall("skip", ctx, "skipped", reason))

    def _fields(self, flight: Flight) -> str:
        """The fields every log line about a running fire starts with."""
        return (
            f"job={flight.job_id} scheduled_at={flight.scheduled_at.isoformat()} node={self._node} "
            f"run_id={flight.run_id}"
        )

    def _note_finished(self, runs: list[Run]) -> None:
        """On the recorder's thread: metrics and the status page's last run, for runs that ran."""
        for run in runs:
            if run.outcome in ("success", "error", "timed_out"):
                scheduled = run.scheduled_at.timestamp()
                self._metrics.fire_finished(
                    run.job_id, run.outcome, run.duration or 0.0, run.started_at - scheduled, run.finished_at or 0.0
                )
                self.states[run.job_id] = JobState(run.scheduled_at, run.outcome)
        self.activity += 1  # a lost increment between threads still moves it: readers only compare

    def _run_record(self, flight: Flight, outcome: str, error: str | None, attempts: int = 1) -> Run:
        return Run(
            job_id=flight.job_id,
            run_id=flight.run_id,
            scheduled_at=flight.scheduled_at,
            node=self._node,
            term=flight.lease.token if flight.lease else None,
            trigger=flight.trigger,
            started_at=flight.started_at,
            finished_at=clock.wall(),
            outcome=outcome,
            error=error,
            attempts=attempts,
        )
