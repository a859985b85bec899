"""Claimer: due fires are claimed once under the current term; the others are decided and give their place back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scheduler_proc.coordination.local.ledger import LocalLedger
from scheduler_proc.coordination.records import ClaimResult
from scheduler_proc.runner.flight import Flight

from .runner_support import CURRENT, fire_path, two_jobs


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def test_a_due_fire_is_claimed_under_the_term_and_holds_an_instance(ledger: LocalLedger) -> None:
    path = fire_path(two_jobs(), ledger)
    flight = Flight("t", _now(), "r1", "schedule")
    path.claimer.claim([flight])
    assert flight.claimed and flight.term is CURRENT
    assert path.table.running() == [flight] and path.table.instances.running("t") == 1
    assert path.records.activity == 1


def test_a_fire_claimed_by_another_run_is_refused_as_duplicate(
    ledger: LocalLedger, caplog: pytest.LogCaptureFixture
) -> None:
    path = fire_path(two_jobs(), ledger)
    at = _now()
    path.claimer.claim([Flight("t", at, "r1", "schedule")])
    again = Flight("t", at, "r2", "manual")
    with caplog.at_level("WARNING", logger="scheduler.fire"):
        path.claimer.claim([again])
    assert not again.claimed and again.refusal is ClaimResult.DUPLICATE
    assert again.verdict == "already claimed by another run"
    assert any("fire refused job=t" in message and "reason=duplicate" in message for message in caplog.messages)


def test_nothing_is_claimed_while_not_leading_and_places_are_given_back(ledger: LocalLedger) -> None:
    path = fire_path(two_jobs(), ledger, term=lambda: None)
    flight = Flight("t", _now(), "r1", "schedule")
    path.claimer.claim([flight])
    assert not flight.claimed and flight.verdict == "not started: this node does not lead"
    assert path.table.running() == [] and path.table.instances.running("t") == 0
    assert path.table.wait_idle(0)


def test_a_fire_past_its_grace_is_not_claimed(ledger: LocalLedger) -> None:
    path = fire_path(two_jobs(), ledger)
    flight = Flight("t", _now() - timedelta(minutes=5), "r1", "schedule")
    path.claimer.claim([flight])
    assert not flight.claimed and flight.verdict.startswith("missed")
    assert ledger.last_claimed_all() == {}
