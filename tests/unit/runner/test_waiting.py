"""WaitingFires: fires over max_instances wait, are claimed again in order, coalesce, or are dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scheduler_proc.coordination.local.ledger import LocalLedger
from scheduler_proc.runner.flight import Flight

from .runner_support import fire_path, two_jobs


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def test_a_parked_fire_is_logged_once_and_claimed_again(ledger: LocalLedger, caplog: pytest.LogCaptureFixture) -> None:
    path = fire_path(two_jobs(), ledger)
    flight = Flight("t", _now(), "r1", "schedule")
    with caplog.at_level("INFO", logger="scheduler.fire"):
        path.waiting.park(flight)
    assert sum("fire waits job=t" in message for message in caplog.messages) == 1
    assert path.waiting.retry(path.claimer.claim) == [[flight]]
    assert path.waiting.retry(path.claimer.claim) == []


def test_a_coalescing_job_keeps_only_its_latest_waiting_fire(ledger: LocalLedger) -> None:
    path = fire_path(two_jobs(), ledger)
    now = _now()
    flights = [Flight("c", now - timedelta(seconds=second), f"r{second}", "schedule") for second in (2, 1, 0)]
    for flight in flights:
        path.waiting.park(flight)
    assert path.waiting.retry(path.claimer.claim) == [[flights[2]]]
    assert [flight.verdict for flight in flights[:2]] == ["coalesced into a later fire"] * 2
    skipped = path.metrics.registry.get_sample_value(
        "scheduler_fires_skipped_total", {"job": "c", "reason": "coalesced"}
    )
    assert skipped == 2


def test_waiting_fires_are_claimed_one_per_retry_while_an_instance_is_free(
    ledger: LocalLedger, caplog: pytest.LogCaptureFixture
) -> None:
    path = fire_path(two_jobs(), ledger)  # "t" runs at most one instance
    now = _now()
    first, second = Flight("t", now, "r1", "schedule"), Flight("t", now + timedelta(seconds=1), "r2", "schedule")
    path.waiting.park(first)
    path.waiting.park(second)
    assert path.waiting.retry(path.claimer.claim) == [[first]]
    with caplog.at_level("INFO", logger="scheduler.fire"):
        assert path.waiting.retry(path.claimer.claim) == []  # the first holds the only instance: it waits again
    assert not any("fire waits" in message for message in caplog.messages)  # said once, when it first waited
    path.table.release([first])  # the first run ended
    assert path.waiting.retry(path.claimer.claim) == [[second]]


def test_a_fire_that_waited_past_its_grace_is_missed(ledger: LocalLedger) -> None:
    path = fire_path(two_jobs(), ledger)
    flight = Flight("t", _now() - timedelta(minutes=5), "r1", "schedule")
    path.waiting.park(flight)
    assert path.waiting.retry(path.claimer.claim) == []
    assert flight.verdict == "missed: later than its misfire grace"


def test_drop_leaves_waiting_fires_unclaimed(ledger: LocalLedger) -> None:
    path = fire_path(two_jobs(), ledger)
    flight = Flight("t", _now(), "r1", "schedule")
    path.waiting.park(flight)
    path.waiting.drop()
    assert flight.verdict == "not started: this node stopped leading while it waited" and not flight.claimed
    assert path.waiting.retry(path.claimer.claim) == []


def test_a_fire_parked_while_a_retry_claims_keeps_its_place_in_time(ledger: LocalLedger) -> None:
    """APScheduler's thread parks a newer fire while the runner's loop is in a retry's claim (a
    ledger round trip): the newest waiting fire is still the one a coalescing job keeps."""
    path = fire_path(two_jobs(), ledger)  # "c" coalesces, at most one instance
    now = _now()
    running = Flight("c", now - timedelta(seconds=3), "r0", "schedule")
    path.claimer.claim([running])
    assert running.claimed  # it holds the only instance: the others wait
    older, newer = (Flight("c", now - timedelta(seconds=ago), f"r{ago}", "schedule") for ago in (2, 1))
    path.waiting.park(older)

    def claim_while_a_newer_fire_is_parked(flights: list[Flight]) -> None:
        path.waiting.park(newer)  # on APScheduler's thread, during the round trip
        path.claimer.claim(flights)

    assert path.waiting.retry(claim_while_a_newer_fire_is_parked) == []  # still busy: the older one waits again
    path.table.release([running])
    assert path.waiting.retry(path.claimer.claim) == [[newer]]
    assert older.verdict == "coalesced into a later fire" and not older.claimed
