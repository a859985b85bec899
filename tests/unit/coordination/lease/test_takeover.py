"""Giving up a dead runner's lease, whatever the store (scheduler_proc/coordination/lease/takeover.py):
nothing to do without a record, one log line for what was released, a store that fails is logged,
not raised. Each store's call against a real server: tests/unit/coordination/redis/test_takeover.py,
tests/unit/coordination/postgres/test_takeover.py."""

from __future__ import annotations

import logging

import pytest

from scheduler_proc.coordination.lease.takeover import bury_dead
from scheduler_proc.coordination.local.hostlock import Holder
from scheduler_proc.errors import PostgresUnavailable


class Burials:
    """The store's side: what it was asked to bury, and what it answers."""

    def __init__(self, released: bool = True, error: Exception | None = None) -> None:
        self.asked: list[tuple[str | None, str]] = []
        self._released = released
        self._error = error

    def __call__(self, lease_token: str | None, run_prefix: str) -> bool:
        self.asked.append((lease_token, run_prefix))
        if self._error is not None:
            raise self._error
        return self._released


def _holder(lease: str | None, runs: str | None) -> Holder:
    return Holder(pid=4121, node="web-1", since=0.0, lease=lease, runs=runs)


def test_nothing_is_asked_without_a_record_of_a_lease_or_runs() -> None:
    burials = Burials()
    bury_dead(None, "its supervisor", burials)
    bury_dead(_holder(None, None), "its supervisor", burials)
    assert burials.asked == []


def test_the_lease_and_the_runs_are_buried_and_the_release_logged(caplog: pytest.LogCaptureFixture) -> None:
    burials = Burials()
    with caplog.at_level(logging.INFO, "scheduler.takeover"):
        bury_dead(_holder("42:n:web-1", "ab12cd34"), "its supervisor", burials)
        bury_dead(_holder(None, "ef56"), "its supervisor", burials)  # runs only: nothing released to tell
    assert burials.asked == [("42:n:web-1", "ab12cd34"), (None, "ef56")]
    assert [r.getMessage() for r in caplog.records] == [
        "runner pid 4121 died holding the lease of term 42; its supervisor released it, so another node leads now"
    ]


def test_a_lease_another_node_took_meanwhile_is_not_claimed_as_released(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, "scheduler.takeover"):
        bury_dead(_holder("42:n:web-1", "ab12cd34"), "its supervisor", Burials(released=False))
    assert caplog.records == []


def test_a_store_that_does_not_answer_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    burials = Burials(error=PostgresUnavailable("PostgreSQL at postgresql://db:5432/app is unreachable"))
    with caplog.at_level(logging.WARNING, "scheduler.takeover"):
        bury_dead(_holder("42:n:web-1", "ab12cd34"), "its supervisor", burials)
    assert "could not release its lease nor its running markers (PostgreSQL at" in caplog.text
