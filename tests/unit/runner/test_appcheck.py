"""Comparing a standby with the leader (scheduler_proc/runner/appcheck.py) through the Redis ledger of
the real Redis fixture: another app in the namespace, another tzdata, each logged once per change.
With real hosts: tests/integration/test_library.py."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from redis_support import RedisServer

from scheduler_proc.coordination.redis.conn import connect
from scheduler_proc.coordination.redis.keys import Keys
from scheduler_proc.coordination.redis.ledger import RedisLedger
from scheduler_proc.identity import AppIdentity
from scheduler_proc.runner.appcheck import LeaderComparison
from scheduler_proc.settings import Settings
from scheduler_proc.tzversion import tzdata_version

SHOP = AppIdentity("shop.jobs:jobs", "/srv/shop")


@pytest.fixture
def ledger(redis_server: RedisServer) -> Iterator[RedisLedger]:
    settings = Settings.from_env({"SCHEDULER_REDIS_URL": redis_server.url}).redis
    assert settings is not None
    made = RedisLedger(settings, connect(settings), Keys("appcheck"), retention=3600)
    yield made
    made.close()


def _standby(ledger: RedisLedger) -> LeaderComparison:
    return LeaderComparison(SHOP, "appcheck", "web-2", ledger, every=0)


def test_a_standby_of_the_same_app_and_tzdata_finds_nothing(ledger: RedisLedger) -> None:
    LeaderComparison(SHOP, "appcheck", "web-1", ledger).leading()
    assert ledger.leader_record() == {"jobs": "shop.jobs:jobs", "node": "web-1", "tzdata": tzdata_version()}
    standby = _standby(ledger)
    standby.standing_by()
    assert standby.conflict is None and standby.tzdata_mismatch is None


def test_another_app_leading_the_namespace_is_logged_once(
    ledger: RedisLedger, caplog: pytest.LogCaptureFixture
) -> None:
    LeaderComparison(AppIdentity("blog.jobs:jobs", "/srv/blog"), "appcheck", "web-1", ledger).leading()
    standby = _standby(ledger)
    with caplog.at_level(logging.ERROR, logger="scheduler.runner"):
        standby.standing_by()
        standby.standing_by()
    assert standby.conflict is not None and "held by another app" in standby.conflict
    assert len(caplog.records) == 1 and standby.tzdata_mismatch is None


def test_a_leader_with_another_tzdata_is_named_with_both_versions(ledger: RedisLedger) -> None:
    ledger.set_leader_record({"jobs": "shop.jobs:jobs", "node": "web-1", "tzdata": "system 1999a"})
    standby = _standby(ledger)
    standby.standing_by()
    assert standby.conflict is None and standby.tzdata_mismatch is not None
    assert "node web-1, computes crontab instants with tzdata 'system 1999a'" in standby.tzdata_mismatch
    assert repr(tzdata_version()) in standby.tzdata_mismatch
