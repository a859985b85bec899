"""One node's lease scripts (scheduler_proc/coordination/redis/leasecalls.py) against the real Redis
fixture: acquire, learn who holds it, renew only with our token, release by token, and the clock
measured from the replies."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis_support import RedisServer
from support import FakeClock

from scheduler_proc import clock
from scheduler_proc.coordination.lease.clockwatch import ClockWatch
from scheduler_proc.coordination.redis.conn import connect
from scheduler_proc.coordination.redis.keys import Keys
from scheduler_proc.coordination.redis.leasecalls import RedisLeaseCalls, parse_token
from scheduler_proc.coordination.redis.replies import Acquired, HeldByOther
from scheduler_proc.errors import UnreadableData
from scheduler_proc.runner.metrics import Metrics
from scheduler_proc.settings import Settings


@pytest.fixture
def calls(redis_server: RedisServer) -> Iterator[tuple[RedisLeaseCalls, RedisLeaseCalls, ClockWatch]]:
    settings = Settings.from_env({"SCHEDULER_REDIS_URL": redis_server.url}).redis
    assert settings is not None
    watch = ClockWatch(settings, "Redis", Metrics("web-1"), FakeClock(), clock.wall)
    other = ClockWatch(settings, "Redis", Metrics("web-2"), FakeClock(), clock.wall)
    yield (
        RedisLeaseCalls(settings, connect(settings), Keys("calls"), watch),
        RedisLeaseCalls(settings, connect(settings), Keys("calls"), other),
        watch,
    )


def test_one_node_acquires_and_the_other_learns_who_holds_it_for_how_long(
    calls: tuple[RedisLeaseCalls, RedisLeaseCalls, ClockWatch],
) -> None:
    first, second, watch = calls
    got = first.acquire("web-1", 8000, least_term=1, margin_ms=2000)
    assert isinstance(got, Acquired) and got.lease_token.endswith(":web-1") and got.fencing_token >= 1
    assert watch.check.offset is not None and abs(watch.check.offset) < 1, "measured on the reply"
    held = second.acquire("web-2", 8000, least_term=1, margin_ms=2000)
    assert isinstance(held, HeldByOther) and held.holder == got.lease_token and 0 < held.remaining_ms <= 8000


def test_only_the_holders_token_renews_or_releases(calls: tuple[RedisLeaseCalls, RedisLeaseCalls, ClockWatch]) -> None:
    first, second, _ = calls
    got = first.acquire("web-1", 8000, least_term=1, margin_ms=2000)
    assert isinstance(got, Acquired)
    assert first.renew(got.lease_token, 8000, 2000).renewed and first.renew_quiet(got.lease_token, 8000)
    forged = f"{got.fencing_token}:forged:web-2"
    assert not second.renew(forged, 8000, 2000).renewed and not second.renew_quiet(forged, 8000)
    assert not second.release(forged)
    assert first.release(got.lease_token)
    again = second.acquire("web-2", 8000, least_term=1, margin_ms=2000)
    assert isinstance(again, Acquired) and again.fencing_token > got.fencing_token, (
        "a new term: fencing tokens only grow"
    )


def test_a_term_below_one_this_node_saw_is_never_granted(
    calls: tuple[RedisLeaseCalls, RedisLeaseCalls, ClockWatch],
) -> None:
    first, _, _ = calls
    got = first.acquire("web-1", 8000, least_term=10**12, margin_ms=2000)
    assert isinstance(got, Acquired) and got.fencing_token >= 10**12


def test_a_lease_token_names_its_term_and_node_or_is_unreadable_naming_the_key() -> None:
    assert parse_token("42:nonce:web-1") == (42, "web-1")
    with pytest.raises(UnreadableData, match=r"Redis key \{shop\}:leader holds 'garbage'"):
        parse_token("garbage", "{shop}:leader")
