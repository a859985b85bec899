"""FireExecution: a claimed fire runs only while its term is current; either way it leaves the table."""

from __future__ import annotations

from datetime import UTC, datetime

from scheduler_proc.coordination.local.ledger import LocalLedger
from scheduler_proc.coordination.term import Term
from scheduler_proc.runner.execution import start_refusal
from scheduler_proc.runner.flight import Flight

from .runner_support import fire_path, two_jobs


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def test_start_refusal_names_what_ended() -> None:
    flight = Flight("t", _now(), "r1", "schedule", term=Term(4, lambda: True))
    assert start_refusal(flight) == ""
    flight.term = Term(4, lambda: False)
    assert start_refusal(flight) == "the leadership term 4 it was claimed under ended before it could start"
    flight.term = Term(None, lambda: False)
    assert start_refusal(flight) == "the host lock it was claimed under ended before it could start"


def test_a_claimed_fire_runs_and_is_recorded(ledger: LocalLedger) -> None:
    ran: list[str] = []
    path = fire_path(two_jobs(ran), ledger)
    flight = Flight("t", _now(), "r1", "schedule")
    path.claimer.claim([flight])
    path.execution.run_claimed([flight])
    assert ran == ["t"] and flight.verdict == "ran" and path.table.wait_idle(0)
    assert path.records.recorder.flush(5)
    [run] = ledger.history("t", 10)
    assert (run.run_id, run.outcome, run.term) == ("r1", "success", None)
    assert path.records.states["t"].last_outcome == "success"


def test_a_fire_whose_term_ended_after_its_claim_is_skipped(ledger: LocalLedger) -> None:
    ran: list[str] = []
    current = {"yes": True}
    term = Term(9, lambda: current["yes"])
    path = fire_path(two_jobs(ran), ledger, term=lambda: term)
    flight = Flight("t", _now(), "r1", "schedule")
    path.claimer.claim([flight])
    current["yes"] = False  # the lease was lost while the fire waited for a job thread
    path.execution.run_claimed([flight])
    assert ran == [] and path.table.wait_idle(0) and path.table.instances.running("t") == 0
    assert path.records.recorder.flush(5)
    [run] = ledger.history("t", 10)
    assert (run.outcome, run.term) == ("skipped", 9)
