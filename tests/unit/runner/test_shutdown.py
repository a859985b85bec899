"""finish_running: a stop lets running jobs finish within the grace, and records the others as abandoned."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scheduler_proc import Jobs
from scheduler_proc.coordination.local.hostlock import HostLock
from scheduler_proc.coordination.local.leadership import HostLeadership
from scheduler_proc.coordination.local.ledger import LocalLedger
from scheduler_proc.runner.engine import Engine
from scheduler_proc.runner.shutdown import finish_running

from .runner_support import CURRENT


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()  # the job thread never outlives the test


def _running_then_halted(ledger: LocalLedger, release: threading.Event) -> Engine:
    """An engine whose one job runs (until ``release``), retired as a stop retires it."""
    jobs = Jobs()

    @jobs.every(hours=1, id="slow")
    def slow() -> None:
        release.wait(10)

    engine = Engine(jobs, ledger, "n", 30, 1, lambda: CURRENT)
    assert engine.run_now("slow", datetime.now(UTC)).outcome == "ran"
    engine.halt()
    return engine


def test_a_job_that_ends_within_the_grace_is_not_abandoned(
    tmp_path: Path, ledger: LocalLedger, release: threading.Event
) -> None:
    engine = _running_then_halted(ledger, release)
    threading.Timer(0.1, release.set).start()
    assert finish_running([engine], HostLeadership(HostLock(tmp_path / "x.lock", "n")), grace=10) == 0
    [run] = ledger.history("slow", 10)
    assert run.outcome == "success"


def test_a_job_still_running_after_the_grace_is_recorded_as_abandoned(
    tmp_path: Path, ledger: LocalLedger, release: threading.Event
) -> None:
    engine = _running_then_halted(ledger, release)
    assert finish_running([engine], HostLeadership(HostLock(tmp_path / "x.lock", "n")), grace=0.1) == 1
    [run] = ledger.history("slow", 10)
    assert (run.outcome, run.error) == ("abandoned", "the scheduler stopped before the job ended")
