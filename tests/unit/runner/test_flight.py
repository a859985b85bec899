"""Flight: deciding a fire wakes whoever waits on it; its fencing token comes from its term."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from scheduler_proc.coordination.term import Term
from scheduler_proc.runner.flight import Flight, fire_fields

AT = datetime(2026, 1, 1, tzinfo=UTC)


def test_decide_sets_the_verdict_and_wakes_a_manual_run() -> None:
    flight = Flight("t", AT, "r1", "manual", decided=threading.Event())
    flight.decide("ran")
    assert flight.verdict == "ran" and flight.decided is not None and flight.decided.is_set()


def test_the_fencing_token_is_the_terms_or_none() -> None:
    flight = Flight("t", AT, "r1", "schedule")
    assert flight.fencing_token is None
    flight.term = Term(7, lambda: True)
    assert flight.fencing_token == 7
    assert fire_fields(flight, "web-1") == "job=t scheduled_at=2026-01-01T00:00:00+00:00 node=web-1 run_id=r1"
