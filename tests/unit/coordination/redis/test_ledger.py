"""The Redis ledger (scheduler_proc/coordination/redis/ledger.py) on a real redis-server, under a real
lease: each fire is claimed once, only under the current term (fencing), and its outcome is kept in
the history; pauses are shared by every node."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from redis_support import RedisServer

from scheduler_proc import clock
from scheduler_proc.coordination.lease.leadership import ClusterLeadership
from scheduler_proc.coordination.records import ClaimResult, Run, to_micros
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


def test_each_fire_after_the_floor_is_claimed_once_and_its_outcome_kept(
    settings: RedisSettings, ledger: RedisLedger
) -> None:
    leadership, term = _lead(settings, "web-1")
    at = _after_the_floor(ledger)
    before = at - timedelta(milliseconds=1)
    assert ledger.claim("j", before, term, "web-1", "r0") is ClaimResult.FLOORED, "it may have run before"
    assert ledger.claim("j", at, term, "web-1", "r1") is ClaimResult.CLAIMED
    assert ledger.claim("j", at, term, "web-1", "r2") is ClaimResult.DUPLICATE
    assert ledger.last_claimed("j") == at and ledger.last_claimed_all() == {"j": at}
    ledger.finish(
        Run("j", "r1", at, "web-1", term.fencing_token, "schedule", at.timestamp(), at.timestamp() + 1, "success", None)
    )
    [run] = ledger.history("j", 10)
    assert (run.run_id, run.outcome, run.term) == ("r1", "success", term.fencing_token)
    assert ledger.last_runs()["j"].outcome == "success"
    leadership.release()


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


def test_a_claim_under_a_term_that_ended_is_fenced_off(settings: RedisSettings, ledger: RedisLedger) -> None:
    first, old_term = _lead(settings, "web-1")
    first.release()
    second, new_term = _lead(settings, "web-2")
    assert new_term.fencing_token is not None and old_term.fencing_token is not None
    assert new_term.fencing_token > old_term.fencing_token
    at = _after_the_floor(ledger)
    assert ledger.claim("j", at, old_term, "web-1", "r-old") is not ClaimResult.CLAIMED
    assert ledger.claim("j", at, new_term, "web-2", "r-new") is ClaimResult.CLAIMED
    second.release()


def test_pauses_are_shared_by_every_node(settings: RedisSettings, ledger: RedisLedger) -> None:
    ledger.set_paused("j", True)
    other = RedisLedger(settings, connect(settings), Keys("ledger"), retention=3600)
    assert other.paused() == {"j"}
    other.set_paused("j", False)
    assert ledger.paused() == set()
    other.close()
