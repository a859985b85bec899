"""ClaimRefusals: a refusal is logged and counted; a fire that runs nowhere is written to the history."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scheduler_proc.coordination.local.ledger import LocalLedger
from scheduler_proc.coordination.records import ClaimResult
from scheduler_proc.errors import LedgerError
from scheduler_proc.hooks import HookCall
from scheduler_proc.runner.flight import Flight
from scheduler_proc.runner.metrics import Metrics
from scheduler_proc.runner.records import FireRecords
from scheduler_proc.runner.refusals import ClaimRefusals

from .runner_support import two_jobs

AT = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_floored_fire_is_recorded_as_skipped_and_its_skip_hooks_run(ledger: LocalLedger) -> None:
    jobs, calls = two_jobs(), list[HookCall]()
    jobs.hooks.add("skip", calls.append)
    metrics = Metrics("n")
    records = FireRecords(["t", "c"], ledger, "n", metrics, jobs.hooks)
    flight = Flight("t", AT, "r1", "schedule")
    ClaimRefusals("n", metrics, records).refused(flight, ClaimResult.FLOORED)
    assert flight.refusal is ClaimResult.FLOORED and flight.verdict.startswith("skipped: scheduled before")
    assert [call.event for call in calls] == ["skip"] and calls[0].ctx.is_current() is False
    assert records.recorder.flush(5)
    [run] = ledger.history("t", 10)
    assert (run.run_id, run.outcome, run.error) == ("r1", "skipped", flight.verdict)
    assert metrics.registry.get_sample_value("scheduler_fires_refused_total", {"job": "t", "reason": "floored"}) == 1


def test_a_duplicate_is_not_written_to_the_history(ledger: LocalLedger) -> None:
    records = FireRecords(["t"], ledger, "n", Metrics("n"), two_jobs().hooks)
    ClaimRefusals("n", Metrics("n"), records).refused(Flight("t", AT, "r1", "schedule"), ClaimResult.DUPLICATE)
    assert records.recorder.flush(5) and ledger.history("t", 10) == []


def test_an_unrecordable_ledger_is_said_once_then_counted(
    ledger: LocalLedger, caplog: pytest.LogCaptureFixture
) -> None:
    refusals = ClaimRefusals("n", Metrics("n"), FireRecords(["t"], ledger, "n", Metrics("n"), two_jobs().hooks))
    flights = [Flight("t", AT, f"r{index}", "schedule") for index in range(3)]
    with caplog.at_level("WARNING", logger="scheduler.fire"):
        refusals.unrecordable(flights[:2], LedgerError("disk full", "the ledger file cannot be written"))
        refusals.unrecordable(flights[2:], LedgerError("disk full", "the ledger file cannot be written"))
        refusals.recordable()
        refusals.recordable()
    assert [flight.verdict for flight in flights] == ["not started: disk full"] * 3
    assert len([message for message in caplog.messages if "fire not started" in message]) == 1
    assert [message for message in caplog.messages if message.startswith("the ledger records")] == [
        "the ledger records claims again; 3 fire(s) were not started meanwhile"
    ]
