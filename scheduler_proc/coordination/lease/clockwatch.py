"""This host's wall clock against the store's: measured on every lease call, logged once per change.

A leader whose clock is off would fire early or late, so it does not lead while the measure
says so; and a node whose claim the store refused as early has its clock proven ahead, whatever
a measure says, for ``_PROOF_HOLD`` seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from scheduler_proc.coordination.interfaces import LeaseObserver
from scheduler_proc.coordination.lease.calls import StoreSettings

log = logging.getLogger("scheduler.lease")

#: A leader whose claim was refused as early steps down and sits out this long before its
#: clock's round-trip measure may let it lead again (NTP trouble is not fixed in seconds).
_PROOF_HOLD = 60.0


class _WithStoreTime(Protocol):
    @property
    def store_ms(self) -> int: ...


R = TypeVar("R", bound=_WithStoreTime)


@dataclass
class ClockCheck:
    """This host's wall clock against the store's, from the lease calls' round trips.

    ``offset`` is how far this host's clock is ahead of the store's (negative: behind). The store
    read its clock somewhere between our send and our receive, so the offset is known to
    within half the round trip; the clock counts as off only when even the most
    favourable reading is beyond ``limit``.
    """

    limit: float
    offset: float | None = None
    error: float = 0.0
    proven_ahead: bool = False  # a claim was refused as early: off, whatever a measure says

    def measured(self, sent_wall: float, received_wall: float, store_ms: int) -> None:
        self.offset = (sent_wall + received_wall) / 2 - store_ms / 1000
        self.error = max(0.0, received_wall - sent_wall) / 2

    @property
    def off(self) -> bool:
        return self.proven_ahead or (self.offset is not None and abs(self.offset) - self.error > self.limit)


class ClockWatch:
    """Keeps a ``ClockCheck`` from the lease calls, tells the metrics, and logs each change of verdict."""

    def __init__(
        self,
        settings: StoreSettings,
        store: str,
        metrics: LeaseObserver,
        clock: Callable[[], float],
        wall: Callable[[], float],
    ) -> None:
        self.check = ClockCheck(settings.max_clock_offset)
        self._store = store  # its name in the log lines
        self._metrics = metrics
        self._clock = clock  # monotonic: how long a proof holds
        self._wall = wall
        self._was_off = False
        self._proven_until = 0.0

    def timed(self, request: Callable[[], R]) -> R:
        """Send ``request`` (a call whose reply carries the store's time) and measure this clock by its round trip."""
        sent = self._wall()
        reply = request()
        self.measured(sent, reply.store_ms)
        return reply

    def measured(self, sent_wall: float, store_ms: int) -> None:
        check = self.check
        check.measured(sent_wall, self._wall(), store_ms)
        self._metrics.clock_offset(check.offset or 0.0)
        if check.off == self._was_off:
            return  # one line per change of state
        self._was_off = check.off
        if check.off:
            log.error(
                "this host's clock is %+.3fs off %s's (+-%.3fs), more than SCHEDULER_MAX_CLOCK_OFFSET=%gs: "
                "not leading until it is fixed (check NTP: `timedatectl` or `chronyc tracking`)",
                check.offset or 0.0,
                self._store,
                check.error,
                check.limit,
            )
        else:
            log.info("this host's clock is within SCHEDULER_MAX_CLOCK_OFFSET of %s's again", self._store)

    def proven_ahead(self, scheduled_at: datetime, margin_ms: int) -> None:
        """A claim for ``scheduled_at`` was refused as early: the clock counts as ahead for ``_PROOF_HOLD``."""
        first = not self.check.proven_ahead
        self._proven_until = self._clock() + _PROOF_HOLD
        self.check.proven_ahead = True
        if first:
            self._was_off = True
            log.error(
                "a claim for the fire at %s was refused as early: it reached %s more than %gs (2 x "
                "SCHEDULER_MAX_CLOCK_OFFSET) before that time by %s's clock, though this host sent it at or "
                "after that time by its own, so this host's clock runs ahead by more than that; stepping down, "
                "not leading for %gs, then measured again (check NTP: `timedatectl` or `chronyc tracking`)",
                scheduled_at.isoformat(),
                self._store,
                margin_ms / 1000,
                self._store,
                _PROOF_HOLD,
            )

    def still_proven_ahead(self, now: float) -> bool:
        """Whether a proof still holds at ``now``; once it ran out, the next measure decides again."""
        if self.check.proven_ahead and now >= self._proven_until:
            self.check.proven_ahead = False
        return self.check.proven_ahead
