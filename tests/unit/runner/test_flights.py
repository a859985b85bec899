"""FlightTable: what is in flight, the places it holds among a job's instances, waiting for idleness."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from scheduler_proc.runner.flight import Flight
from scheduler_proc.runner.flights import FlightTable
from scheduler_proc.runner.instances import Instances

AT = datetime(2026, 1, 1, tzinfo=UTC)


def test_only_claimed_fires_count_as_running_and_give_their_place_back() -> None:
    instances = Instances()
    table = FlightTable(instances)
    claimed, refused = Flight("t", AT, "r1", "schedule", claimed=True), Flight("t", AT, "r2", "schedule")
    instances.reserve("t")  # the claim took its place before the ledger granted it
    table.track([claimed, refused])
    assert table.running() == [claimed] and table.unstarted() == 1
    assert [run.run_id for run in table.claimed_runs()] == ["r1"]
    claimed.decide("ran")
    assert table.unstarted() == 0
    table.release([claimed, refused])
    assert table.running() == [] and instances.running("t") == 0
    table.release([claimed])  # released twice (a retry path): the place is not given back twice
    assert instances.running("t") == 0


def test_wait_idle_returns_when_another_thread_releases_the_last_fire() -> None:
    table = FlightTable(Instances())
    flight = Flight("t", AT, "r1", "schedule")
    table.track([flight])
    assert not table.wait_idle(0)
    releaser = threading.Timer(0.05, table.release, [[flight]])
    releaser.start()
    assert table.wait_idle(5)
    releaser.join()
