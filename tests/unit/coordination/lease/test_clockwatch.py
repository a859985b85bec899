"""This host's clock against the store's (scheduler_proc/coordination/lease/clockwatch.py) on fake clocks:
off only when even the most favourable reading is beyond the limit; a refused early claim proves it
ahead for a while; each change of verdict is logged once and the offset goes to the metrics."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from support import FakeClock

from scheduler_proc.coordination.lease.clockwatch import ClockCheck, ClockWatch
from scheduler_proc.settings import Settings


class Offsets:
    """The metrics' side of the LeaseObserver: the offsets told."""

    def __init__(self) -> None:
        self.told: list[float] = []

    def renewal_failed(self) -> None:
        """Not used here."""

    def clock_offset(self, seconds: float) -> None:
        self.told.append(seconds)


def _watch(wall: FakeClock, monotonic: FakeClock, offsets: Offsets) -> ClockWatch:
    settings = Settings.from_env({"SCHEDULER_REDIS_URL": "redis://127.0.0.1:1/0", "SCHEDULER_MAX_CLOCK_OFFSET": "1"})
    assert settings.redis is not None
    return ClockWatch(settings.redis, "Redis", offsets, monotonic, wall)


def test_the_offset_is_known_within_half_the_round_trip() -> None:
    check = ClockCheck(limit=1.0)
    check.measured(sent_wall=100.0, received_wall=102.0, store_ms=99_000)  # 2 s ahead, +-1 s
    assert (check.offset, check.error) == (2.0, 1.0) and not check.off, "it may be only 1 s ahead"
    check.measured(sent_wall=100.0, received_wall=100.2, store_ms=98_000)
    assert check.off


def test_each_change_of_verdict_is_logged_once_and_every_offset_told(caplog: pytest.LogCaptureFixture) -> None:
    wall, offsets = FakeClock(), Offsets()
    watch = _watch(wall, FakeClock(), offsets)
    with caplog.at_level(logging.INFO, logger="scheduler.lease"):
        for _ in range(3):
            watch.measured(sent_wall=wall.now, store_ms=int((wall.now - 5) * 1000))  # 5 s ahead
        for _ in range(2):
            watch.measured(sent_wall=wall.now, store_ms=int(wall.now * 1000))
    assert offsets.told == [5.0, 5.0, 5.0, 0.0, 0.0]
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2 and "+5.000s off Redis's" in messages[0] and "again" in messages[1]


def test_a_claim_refused_as_early_proves_the_clock_ahead_for_a_minute() -> None:
    monotonic = FakeClock()
    watch = _watch(FakeClock(), monotonic, Offsets())
    watch.proven_ahead(datetime(2026, 12, 4, tzinfo=UTC), margin_ms=2000)
    assert watch.check.off and watch.still_proven_ahead(monotonic.now + 59)
    assert not watch.still_proven_ahead(monotonic.now + 60) and not watch.check.off
