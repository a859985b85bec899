"""The Redis lease (scheduler_proc/coordination/redis/lease.py): the clock it is judged on. The lease
against a real Redis: tests/integration/test_lease.py."""

from __future__ import annotations

import time


def test_the_lease_is_judged_on_a_clock_that_counts_suspended_time() -> None:
    """CLOCK_MONOTONIC stops while a host is suspended, so a resumed leader would think its lease
    still had the time it had when it slept; CLOCK_BOOTTIME counts the sleep. (No test can
    suspend this machine: this pins which clock is used.)"""
    import inspect

    from scheduler_proc import clock
    from scheduler_proc.coordination.lease.leadership import ClusterLeadership
    from scheduler_proc.coordination.redis.lease import redis_leadership

    assert inspect.signature(redis_leadership).parameters["clock"].default is clock.elapsed
    assert inspect.signature(ClusterLeadership).parameters["clock"].default is clock.elapsed
    before = time.clock_gettime(time.CLOCK_BOOTTIME)
    assert before <= clock.elapsed() <= time.clock_gettime(time.CLOCK_BOOTTIME)
