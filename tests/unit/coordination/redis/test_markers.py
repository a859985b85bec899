"""The running markers' keeper (scheduler_proc/coordination/redis/markers.py) against a real
redis-server and the Redis ledger: it renews the marker of every run going on, writes it again when
Redis lost it, leaves out runs that ended, and survives a Redis that does not answer."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from redis_support import RedisServer
from support import wait_for

from scheduler_proc.coordination.records import LiveRun
from scheduler_proc.coordination.redis.conn import connect
from scheduler_proc.coordination.redis.keys import Keys
from scheduler_proc.coordination.redis.ledger import RedisLedger
from scheduler_proc.coordination.redis.markers import MarkerKeeper
from scheduler_proc.settings import Settings

RUN = LiveRun("nightly", datetime(2026, 12, 4, 3, 0, tzinfo=UTC), "run-0001")
TTL = 4.0


@pytest.fixture
def keeping(redis_server: RedisServer) -> Iterator[tuple[MarkerKeeper, list[LiveRun], Keys]]:
    settings = Settings.from_env({"SCHEDULER_REDIS_URL": redis_server.url, "SCHEDULER_LEASE_TTL": f"{TTL:g}"})
    assert settings.redis is not None
    keys = Keys("markers")
    ledger = RedisLedger(settings.redis, connect(settings.redis), keys, retention=3600)
    runs: list[LiveRun] = []
    keeper = MarkerKeeper(ledger, lambda: list(runs), every=0.05)
    keeper.start()
    yield keeper, runs, keys
    keeper.stop()


def _marker_ttl_ms(redis_server: RedisServer, keys: Keys) -> int | None:
    """The running marker of RUN: its key's time to live, or None when the run is not in the set."""
    client = redis_server.client()
    try:
        if client.zscore(keys.running(RUN.job_id), RUN.run_id) is None:
            return None
        ttl: int = client.pttl(keys.running(RUN.job_id))
        return ttl
    finally:
        client.close()


def test_a_runs_marker_is_kept_and_written_again_when_redis_lost_it(
    keeping: tuple[MarkerKeeper, list[LiveRun], Keys], redis_server: RedisServer
) -> None:
    _, runs, keys = keeping
    runs.append(RUN)
    wait_for(lambda: _marker_ttl_ms(redis_server, keys) is not None, 5, "the marker to be written")
    assert 0 < (_marker_ttl_ms(redis_server, keys) or 0) <= TTL * 1000, "it expires within a lease TTL"
    redis_server.client().delete(keys.running(RUN.job_id))  # a restart without persistence
    wait_for(lambda: _marker_ttl_ms(redis_server, keys) is not None, 5, "the marker to be written again")


def test_a_run_whose_fire_carries_its_outcome_gets_no_marker(
    keeping: tuple[MarkerKeeper, list[LiveRun], Keys], redis_server: RedisServer
) -> None:
    _, runs, keys = keeping
    client = redis_server.client()
    client.hset(
        keys.fire(RUN.job_id, int(RUN.scheduled_at.timestamp() * 1_000_000)),
        mapping={"run_id": RUN.run_id, "outcome": "success"},
    )
    other = LiveRun("other", RUN.scheduled_at, "run-0002")
    runs.extend([RUN, other])  # the keeper renews both in one call: 'other' shows that call happened
    wait_for(lambda: client.zscore(keys.running("other"), "run-0002") is not None, 5, "the other run's marker")
    assert _marker_ttl_ms(redis_server, keys) is None
    client.close()


def test_a_redis_that_does_not_answer_is_logged_and_the_keeper_goes_on(
    keeping: tuple[MarkerKeeper, list[LiveRun], Keys], redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    keeper, runs, _ = keeping
    runs.append(RUN)
    with caplog.at_level(logging.WARNING, logger="scheduler.markers"):
        redis_server.kill()
        wait_for(lambda: "cannot renew the running markers of 1 run(s)" in caplog.text, 10, "the warning")
    assert keeper._thread.is_alive()


def test_a_stopped_keeper_ends_its_thread(keeping: tuple[MarkerKeeper, list[LiveRun], Keys]) -> None:
    keeper, _, _ = keeping
    keeper.stop()
    keeper._thread.join(5)
    assert not keeper._thread.is_alive()
