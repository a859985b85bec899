"""The engine's catch-up (scheduler_proc/runner/engine.py): where each job resumes after a start or a floor."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scheduler_proc import Jobs
from scheduler_proc.coordination.local.ledger import LocalLedger
from scheduler_proc.coordination.term import Term
from scheduler_proc.runner.engine import Engine

SINGLE = Term(None, lambda: True)


def _engine(tmp_path: Path, grace: float) -> tuple[Engine, LocalLedger]:
    jobs = Jobs()

    @jobs.every(seconds=10, id="ten", misfire_grace_time=grace)
    def ten() -> None: ...

    ledger = LocalLedger(tmp_path / "l.sqlite3", retention=3600)
    return Engine(jobs, ledger, "n", 30, 1, lambda: Term(None, lambda: True)), ledger


def test_catch_up_resumes_after_the_last_claim_within_grace(tmp_path: Path) -> None:
    engine, ledger = _engine(tmp_path, grace=60)
    now = datetime(2026, 1, 1, 12, 0, 3, tzinfo=UTC)
    last = datetime(2026, 1, 1, 11, 59, 30, tzinfo=UTC)  # a fire of the 10 s grid, 33 s ago
    ledger.claim("ten", last, SINGLE, "n", "r")
    resume = engine.catch_up.resume_at(engine.specs["ten"], now, now, ledger.last_claimed("ten"))
    assert resume == last + timedelta(seconds=10)


def test_an_interval_job_resumes_on_its_grid_after_a_floor(tmp_path: Path) -> None:
    """A floor (Redis may have lost claims) becomes each job's last claim: an instant off the
    job's grid. The next fire is the grid's, not the floor plus the interval (which kept every
    later fire off the grid: .364 for ever)."""
    engine, _ = _engine(tmp_path, grace=60)
    now = datetime(2026, 1, 1, 12, 0, 3, tzinfo=UTC)
    floor = datetime(2026, 1, 1, 12, 0, 1, 364000, tzinfo=UTC)
    assert engine.catch_up.resume_at(engine.specs["ten"], now, now, floor) == datetime(
        2026, 1, 1, 12, 0, 10, tzinfo=UTC
    )


def test_the_floor_log_says_what_is_known_of_the_fires_it_covers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine, _ = _engine(tmp_path, grace=60)
    last, floor = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC), datetime(2026, 1, 1, 12, 0, 31, tzinfo=UTC)
    with caplog.at_level(logging.WARNING, logger="scheduler.engine"):
        settled = engine.catch_up.settle_floor({"ten": last}, floor, "Redis restarted without its data")
    assert settled == {"ten": floor}
    [record] = caplog.records
    message = record.getMessage()
    assert "2026-01-01T12:00:10+00:00 to 2026-01-01T12:00:31+00:00" in message
    assert "may have run before the store lost their claims" in message and "not run" not in message.split("may")[0]
    assert "before running any by hand" in message


def test_catch_up_skips_fires_older_than_grace(tmp_path: Path) -> None:
    engine, ledger = _engine(tmp_path, grace=15)
    now = datetime(2026, 1, 1, 12, 0, 3, tzinfo=UTC)
    ledger.claim("ten", now - timedelta(hours=1), SINGLE, "n", "r")
    assert engine.catch_up.resume_at(engine.specs["ten"], now, now, ledger.last_claimed("ten")) == datetime(
        2026, 1, 1, 11, 59, 50, tzinfo=UTC
    )
