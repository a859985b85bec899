"""The Redis ledger (scheduler_proc/coordination/redis/ledger.py) on a real redis-server, under a real
lease, beyond the Ledger interface's tests (tests/integration/test_cluster_ledger.py, run on both
stores: once per fire, fencing, floor, max_instances, history, pauses): a fire's hash that is not
what the kit wrote never fails the status page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from redis_support import RedisServer

from scheduler_proc import clock
from scheduler_proc.coordination.lease.leadership import ClusterLeadership
from scheduler_proc.coordination.records import ClaimResult, to_micros
from scheduler_proc.coordination.redis.conn import connect
from scheduler_proc.coordination.redis.keys import Keys
from scheduler_proc.coordination.redis.lease import redis_leadership
from scheduler_proc.coordination.redis.ledger import RedisLedger
from scheduler_proc.coordination.term import Term
from scheduler_proc.settings import RedisSettings, Settings


@pytest.fixture
def settings(redis_server: RedisServer) -> RedisSettings:
    found = Settings.from_env({"SCHEDULER_REDIS_URL": redis_server.url}).redis
    assert found is not None
    return found


@pytest.fixture
def ledger(settings: RedisSettings) -> Iterator[RedisLedger]:
    made = RedisLedger(settings, connect(settings), Keys("ledger"), retention=3600)
    yield made
    made.close()


def _after_the_floor(ledger: RedisLedger) -> datetime:
    """A fresh Redis may have lost claims: the first lease sets a floor, and only later fires are claimed."""
    floor = ledger.resume_floor()
    return (floor[0] if floor else clock.now()) + timedelta(milliseconds=1)


def _lead(settings: RedisSettings, node: str) -> tuple[ClusterLeadership, Term]:
    leadership = redis_leadership(settings, connect(settings), Keys("ledger"), node)
    leadership.tick()
    term = leadership.current_term()
    assert term is not None, f"{node} should lead"
    return leadership, term


def test_a_last_outcome_it_does_not_know_shows_as_unknown(
    redis_server: RedisServer, settings: RedisSettings, ledger: RedisLedger
) -> None:
    """A later version's outcome in a fire's hash (or none: the hash expired) never fails the status page."""
    leadership, term = _lead(settings, "web-1")
    at = _after_the_floor(ledger)
    assert ledger.claim("j", at, term, "web-1", "r1") is ClaimResult.CLAIMED
    fire = Keys("ledger").fire("j", to_micros(at))
    redis_server.client().hset(fire, "outcome", "vanished")
    assert ledger.last_runs()["j"].outcome == "unknown"
    redis_server.client().delete(fire)
    assert ledger.last_runs()["j"].outcome == "unknown"
    leadership.release()
