"""Runs in progress per job in this process (scheduler_proc/runner/instances.py), shared by every
engine: a place is reserved before the claim and given back when refused or ended."""

from __future__ import annotations

import threading

from scheduler_proc.runner.instances import Instances


def test_reservations_count_up_and_releases_down_to_nothing() -> None:
    instances = Instances()
    assert [instances.reserve("j") for _ in range(3)] == [0, 1, 2]
    assert instances.running("j") == 3 and instances.running("other") == 0
    for _ in range(3):
        instances.release("j")
    assert instances.running("j") == 0


def test_two_claims_at_one_moment_never_both_see_a_free_place() -> None:
    instances, seen = Instances(), []
    start = threading.Barrier(8)

    def claim() -> None:
        start.wait()
        seen.append(instances.reserve("j"))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(seen) == list(range(8))
