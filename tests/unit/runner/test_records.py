"""FireRecords: the history's records of fires, and each job's latest run as status pages show it."""

from __future__ import annotations

from datetime import UTC, datetime

from scheduler_proc.coordination.local.ledger import LocalLedger
from scheduler_proc.runner.flight import Flight
from scheduler_proc.runner.metrics import Metrics
from scheduler_proc.runner.records import FireRecords

from .runner_support import CURRENT, two_jobs

AT = datetime(2026, 1, 1, tzinfo=UTC)


def _records(ledger: LocalLedger) -> FireRecords:
    return FireRecords(["t", "c"], ledger, "n", Metrics("n"), two_jobs().hooks)


def test_a_finished_run_becomes_the_jobs_latest_and_moves_activity(ledger: LocalLedger) -> None:
    records = _records(ledger)
    assert records.states["t"].last_outcome is None and records.activity == 0
    flight = Flight("t", AT, "r1", "schedule", claimed=True, term=CURRENT)
    ledger.claim("t", AT, CURRENT, "n", "r1")
    records.recorder.record(records.run_record(flight, "success", None))
    assert records.recorder.flush(5)
    latest = records.states["t"]
    assert (latest.last_run_at, latest.last_outcome) == (AT, "success")
    assert records.activity == 1
    assert _records(ledger).states["t"].last_outcome == "success"  # a new engine reads it from the ledger


def test_skipped_and_abandoned_runs_are_recorded_but_are_not_the_jobs_latest_run(ledger: LocalLedger) -> None:
    records = _records(ledger)
    records.skipped(Flight("c", AT, "r1", "schedule"), "why not")
    records.abandoned([Flight("t", AT, "r2", "schedule", claimed=True, term=CURRENT)])
    assert records.recorder.flush(5)
    assert [(run.outcome, run.error) for run in ledger.history("c", 10)] == [("skipped", "why not")]
    assert [run.outcome for run in ledger.history("t", 10)] == ["abandoned"]
    assert records.states["t"].last_outcome is None and records.states["c"].last_outcome is None
