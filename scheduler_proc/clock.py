"""The scheduler side's wall clock: the one place its schedule decisions read the time of day.

Deadlines use ``time.monotonic`` and the lease :func:`elapsed`; the wall clock here is for
what a fire's time is compared with. ``SCHEDULER_TEST_CLOCK_OFFSET`` shifts it (and APScheduler's view of now) by that
many seconds, so tests and ``make chaos`` can run a host whose clock is off without
changing the machine's clock (libfaketime breaks Python's sleeps).
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta, tzinfo


def _offset() -> float:
    try:
        return float(os.environ.get("SCHEDULER_TEST_CLOCK_OFFSET") or 0.0)
    except ValueError:
        return 0.0  # Settings.from_env reports the bad value


OFFSET = _offset()


def elapsed() -> float:
    """Seconds on a clock that never goes back and keeps counting while the host is suspended.

    The lease is judged on it: ``time.monotonic`` (CLOCK_MONOTONIC) stops during a system
    suspend, so after a resume a leader would believe its lease still had the time it had
    when the host slept, while Redis let it expire and another node leads. CLOCK_BOOTTIME
    counts the sleep (Linux); elsewhere the monotonic clock is the best there is.
    """
    return time.clock_gettime(_LEASE_CLOCK)


_LEASE_CLOCK = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)


def wall() -> float:
    """Seconds since the epoch, as this host's (possibly shifted) clock says."""
    return time.time() + OFFSET


def now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.fromtimestamp(wall(), UTC)


class _ShiftedUTC(tzinfo):
    """UTC whose ``datetime.now(tz)`` runs ``OFFSET`` seconds ahead: how APScheduler is given the shifted clock."""

    def __init__(self, offset: float) -> None:
        self._shift = timedelta(seconds=offset)

    def utcoffset(self, dt: datetime | None) -> timedelta:
        return timedelta(0)

    def dst(self, dt: datetime | None) -> timedelta:
        return timedelta(0)

    def tzname(self, dt: datetime | None) -> str:
        return "UTC"

    def fromutc(self, dt: datetime) -> datetime:
        return dt + self._shift


def scheduler_timezone() -> tzinfo:
    """The zone to give APScheduler: plain UTC unless the clock is shifted for a test."""
    return _ShiftedUTC(OFFSET) if OFFSET else UTC
