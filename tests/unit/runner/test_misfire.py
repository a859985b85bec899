"""MisfireCheck: a fire later than its grace (plus its jitter) is missed, logged and counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scheduler_proc import Jobs
from scheduler_proc.runner.flight import Flight
from scheduler_proc.runner.metrics import Metrics
from scheduler_proc.runner.misfire import MisfireCheck

from .runner_support import specs_of


def test_fires_later_than_their_grace_are_missed() -> None:
    jobs = Jobs()

    @jobs.every(seconds=10, id="plain")
    def plain() -> None: ...

    @jobs.every(seconds=10, id="jittered", jitter=100)
    def jittered() -> None: ...

    metrics = Metrics("n")
    check = MisfireCheck(specs_of(jobs), 30, "n", metrics)
    late = datetime.now(UTC) - timedelta(seconds=60)
    flights = [Flight("plain", late, "r1", "schedule"), Flight("jittered", late, "r2", "schedule")]
    assert check.due(flights) == [flights[1]]  # the jitter widens the grace: 30 + 100 s
    assert flights[0].verdict == "missed: later than its misfire grace"
    assert metrics.registry.get_sample_value("scheduler_fires_missed_total", {"job": "plain"}) == 1
