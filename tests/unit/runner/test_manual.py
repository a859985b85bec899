"""manual_run_result: what an operator's 'run now' answers, from the fire's verdict."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from scheduler_proc.coordination.records import ClaimResult
from scheduler_proc.runner.flight import Flight
from scheduler_proc.runner.manual import manual_run_result

AT = datetime(2026, 1, 1, tzinfo=UTC)


def _manual() -> Flight:
    return Flight("t", AT, "r1", "manual", decided=threading.Event())


def test_each_verdict_has_its_answer() -> None:
    waiting = _manual()
    assert manual_run_result(waiting, 0).outcome == "queued"
    ran = _manual()
    ran.decide("ran")
    assert (manual_run_result(ran, 0).outcome, manual_run_result(ran, 0).ok) == ("ran", True)
    duplicate = _manual()
    duplicate.refusal = ClaimResult.DUPLICATE
    duplicate.decide("already claimed by another run")
    assert manual_run_result(duplicate, 0).outcome == "already-ran"
    refused = _manual()
    refused.decide("not started: this node does not lead")
    result = manual_run_result(refused, 0)
    assert (result.outcome, result.ok, result.reason) == ("refused", False, "not started: this node does not lead")
