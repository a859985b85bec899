"""The APScheduler executor: due times in, claimed fires out to the job threads.

APScheduler decides what is due (triggers, coalescing); this executor claims what it
submits in growing chunks (so a burst costs one ledger call per chunk and its first fires
start while later ones are still being claimed) and runs them on a fixed set of threads.
A catch-up of several missed fires of one job claims each one only when the previous has
run, and a jittered fire only after its random delay: a claimed fire never waits long, so
a node that stops or loses its lease leaves unclaimed fires to the next leader instead of
claimed ones nobody runs.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import datetime

from apscheduler.executors.base import MaxInstancesReachedError
from apscheduler.job import Job

from scheduler_proc.runner.apscheduler_adapter import SubmissionExecutor
from scheduler_proc.runner.dispatch import Dispatcher, Submission
from scheduler_proc.runner.flight import Flight
from scheduler_proc.runner.jobthreads import JobThreads

log = logging.getLogger("scheduler.fire")

#: Due fires claimed per ledger call while APScheduler is still submitting a burst, so the
#: first ones run while the rest are being claimed: the first chunk of a wake-up is small
#: (its fires start within a few ms), each next one twice as large, up to CLAIM_CHUNK.
FIRST_CLAIM_CHUNK = 16
CLAIM_CHUNK = 256
#: After a claim, the executor counts as busy this long (the next chunk of a burst follows within ms).
_BUSY_AFTER = 0.02


def _no_progress() -> None:
    """Default progress callback: nobody watches."""


class FireExecutor(SubmissionExecutor):
    """An APScheduler executor that hands due times to :class:`Dispatcher` (see the module docstring)."""

    def __init__(self, dispatcher: Dispatcher, max_workers: int, progress: Callable[[], None] = _no_progress) -> None:
        super().__init__()
        self._dispatcher = dispatcher
        self._threads = JobThreads(max_workers)
        self._progress = progress  # the dispatch loop is alive: the watchdog counts on it
        self._pending: list[tuple[str, list[datetime]]] = []  # touched by APScheduler's thread only
        self._claimed_at = float("-inf")  # monotonic time of the last claim of due fires
        self._chunk = FIRST_CLAIM_CHUNK
        self._closed = False  # the engine retired: claim nothing more
        dispatcher.recorder.yield_to(self.busy)

    def close(self) -> None:
        """Claim nothing more (the engine's term ended); fires already claimed still run."""
        self._closed = True

    def shutdown(self, wait: bool = True) -> None:
        # Fires reach the threads already claimed, so queued ones must still run: nothing is cancelled.
        self._threads.shutdown(wait=wait)

    def ended(self) -> bool:
        """True once shut down and no job thread runs anything any more."""
        return self._threads.ended()

    def submit_job(self, job: Job, run_times: list[datetime]) -> None:
        try:
            super().submit_job(job, run_times)
        except MaxInstancesReachedError:  # APScheduler skips them (and logs it): the metrics count them
            self._dispatcher.skipped(job.id, "max_instances", len(run_times))
            raise
        if len(self._pending) >= self._chunk:  # outside the executor's lock, which job threads take to finish
            self._chunk = min(self._chunk * 2, CLAIM_CHUNK)
            self._claim_pending()

    def flush(self) -> None:
        """At the end of a scheduler wake-up: claim the rest; the next wake-up starts with a small chunk."""
        self._chunk = FIRST_CLAIM_CHUNK
        self._claim_pending()
        self._progress()

    def _claim_pending(self) -> None:
        """Claim the first fire of each submission now; the job thread claims the others in turn."""
        batch, self._pending = self._pending, []
        if not batch or self._closed:
            return
        self._claimed_at = time.monotonic()
        self._progress()
        now: list[Submission] = []
        later: list[list[datetime]] = []
        for job_id, times in batch:
            split = 0 if self._dispatcher.jitter(job_id) else 1
            now.append((job_id, times[:split], None, "schedule"))
            later.append(times[split:])
        try:
            groups = self._dispatcher.claim(now)
        except Exception:
            log.exception("claiming %d due fire(s) failed; they are not run", len(batch))
            groups = [[] for _ in batch]
        for (job_id, _), flights, rest in zip(batch, groups, later, strict=True):
            if flights or rest:
                self._threads.submit(self._run, job_id, flights, rest)
            else:
                self.job_ended(job_id)

    def busy(self) -> bool:
        """True while fires are being claimed or wait for a job thread (chores should wait)."""
        return bool(self._pending) or self._threads.backlog() > 0 or time.monotonic() - self._claimed_at < _BUSY_AFTER

    def submit_manual(self, job_id: str, scheduled_at: datetime) -> Flight:
        """Run an operator's 'run now' as a fire of its own (claimed like any other); its ``decided`` tells."""
        flight = self._dispatcher.claim_manual(job_id, scheduled_at)
        if flight.claimed:
            self._threads.submit(self._dispatcher.run_claimed, [flight])
        return flight

    def retry_waiting(self) -> None:
        """Claim again the fires that waited for a running instance elsewhere, and run those granted."""
        for flights in self._dispatcher.retry_waiting():
            self._threads.submit(self._dispatcher.run_claimed, flights)

    def accept(self, job_id: str, run_times: list[datetime]) -> None:
        self._pending.append((job_id, run_times))

    def _run(self, job_id: str, flights: list[Flight], later: list[datetime]) -> None:
        """On a job thread: run the claimed fire, then claim and run each later one (after its jitter)."""
        try:
            self._dispatcher.run_claimed(flights)
            jitter = self._dispatcher.jitter(job_id)
            for at in later:
                if jitter:
                    time.sleep(random.uniform(0, jitter))
                [claimed] = self._dispatcher.claim([(job_id, [at], None, "schedule")])
                self._dispatcher.run_claimed(claimed)
        except BaseException as exc:
            self.job_failed(job_id, exc)
        else:
            self.job_ended(job_id)
