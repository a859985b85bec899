"""The APScheduler executor (scheduler_proc/runner/executor.py) with a real dispatcher and SQLite
ledger: a burst is claimed in growing chunks, a catch-up claims each fire only after the one
before ran, and a closed executor claims nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.job import Job
from apscheduler.schedulers.background import BackgroundScheduler
from support import wait_for

from scheduler_proc import Jobs, RunContext
from scheduler_proc.coordination.local.ledger import LocalLedger
from scheduler_proc.coordination.term import Term
from scheduler_proc.runner.dispatch import Dispatcher
from scheduler_proc.runner.executor import FIRST_CLAIM_CHUNK, FireExecutor

JOBS = FIRST_CLAIM_CHUNK + 2 * FIRST_CLAIM_CHUNK + 5  # the first two chunks and a few more


class Setup:
    """An executor on a scheduler that is never started: the test submits due times as its thread would."""

    def __init__(self, tmp_path: Path) -> None:
        self.ran: list[tuple[str, datetime]] = []
        self.lock = threading.Lock()
        jobs = Jobs()
        for index in range(JOBS):
            jobs.every(seconds=60, id=f"j{index}")(self._record)
        self.ledger = LocalLedger(tmp_path / "l.sqlite3", retention=3600)
        specs = {spec.id: spec for spec in jobs}
        self.dispatcher = Dispatcher(specs, self.ledger, "n", 30, lambda: Term(None, lambda: True))
        self.executor = FireExecutor(self.dispatcher, max_workers=4)
        self.scheduler = BackgroundScheduler(timezone=UTC, executors={"default": self.executor})
        for spec in specs.values():
            self.scheduler.add_job(lambda: None, trigger=spec.trigger, id=spec.id, max_instances=10, next_run_time=None)
        self.executor.start(self.scheduler, "default")
        self.jobs: dict[str, Job] = {job.id: job for job in self.scheduler.get_jobs()}

    def _record(self, ctx: RunContext) -> None:
        with self.lock:
            self.ran.append((ctx.job_id, ctx.scheduled_at))

    def claimed(self) -> int:
        """How many jobs have a claim in the ledger."""
        return len(self.ledger.last_claimed_all())


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    made = Setup(tmp_path)
    yield made
    made.executor.shutdown(wait=True)
    made.ledger.close()


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def test_a_burst_is_claimed_in_chunks_that_double_and_a_flush_claims_the_rest(setup: Setup) -> None:
    at, submitted = _now(), 0
    for size in (FIRST_CLAIM_CHUNK, 2 * FIRST_CLAIM_CHUNK):
        for _ in range(size - 1):
            setup.executor.submit_job(setup.jobs[f"j{submitted}"], [at])
            submitted += 1
        assert setup.claimed() == submitted - size + 1, "nothing claimed until a chunk is full"
        setup.executor.submit_job(setup.jobs[f"j{submitted}"], [at])
        submitted += 1
        assert setup.claimed() == submitted, f"a full chunk of {size} is claimed in one go"
        assert setup.executor.busy()
    for _ in range(5):
        setup.executor.submit_job(setup.jobs[f"j{submitted}"], [at])
        submitted += 1
    assert setup.claimed() == submitted - 5
    setup.executor.flush()  # the end of APScheduler's wake-up
    assert setup.claimed() == submitted == JOBS
    wait_for(lambda: len(setup.ran) == submitted, 10, "every claimed fire to run")
    assert sorted(setup.ran) == sorted((f"j{index}", at) for index in range(submitted))


def test_after_a_flush_the_next_burst_starts_with_a_small_chunk_again(setup: Setup) -> None:
    at = _now()
    for index in range(FIRST_CLAIM_CHUNK):
        setup.executor.submit_job(setup.jobs[f"j{index}"], [at])
    setup.executor.flush()
    wait_for(lambda: len(setup.ran) == FIRST_CLAIM_CHUNK, 10, "the first burst to run")  # max_instances=1
    later = at + timedelta(seconds=1)
    for index in range(FIRST_CLAIM_CHUNK - 1):
        setup.executor.submit_job(setup.jobs[f"j{index}"], [later])
    assert [setup.ledger.last_claimed(f"j{index}") for index in range(2)] == [at, at]
    setup.executor.submit_job(setup.jobs[f"j{FIRST_CLAIM_CHUNK - 1}"], [later])
    assert setup.ledger.last_claimed("j0") == later, "the 16th submission filled the first chunk again"


def test_a_catch_up_claims_each_missed_fire_only_after_the_one_before_ran(setup: Setup) -> None:
    at = _now()
    missed = [at - timedelta(seconds=20), at - timedelta(seconds=10), at]
    setup.executor.submit_job(setup.jobs["j0"], missed)
    setup.executor.flush()
    wait_for(lambda: len(setup.ran) == 3, 10, "the three missed fires to run")
    assert setup.ran == [("j0", when) for when in missed], "in order, one after the other"
    assert setup.ledger.last_claimed("j0") == at


def test_a_closed_executor_claims_nothing_more(setup: Setup) -> None:
    setup.executor.close()
    setup.executor.submit_job(setup.jobs["j0"], [_now()])
    setup.executor.flush()
    assert setup.claimed() == 0 and setup.ran == []
