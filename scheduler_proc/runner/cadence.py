"""When to do a periodic chore whose cost grows with the number of jobs.

Publishing the status of ten thousand jobs takes a tenth of a second of the runner's
GIL. Done every second, and in the middle of a burst of due fires, it would delay them.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Cadence:
    """Due every ``every`` seconds, but never more than ``share`` of the time, and not while busy.

    After a run that took t seconds the next is due no sooner than t / share later. While
    the caller says it is busy (fires are starting), a due chore waits, for at most
    ``max_delay`` seconds past its due time.
    """

    def __init__(
        self,
        every: float,
        share: float = 0.05,
        max_delay: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._every = every
        self._share = share
        self._max_delay = max_delay
        self._clock = clock
        self._due_at = float("-inf")  # due at once
        self._started = 0.0
        self.cost = 0.0  # how long the chore took last time

    def due(self, busy: bool = False) -> bool:
        """True when the chore should run now."""
        now = self._clock()
        if now < self._due_at:
            return False
        return not busy or now >= self._due_at + self._max_delay

    def start(self) -> None:
        """Call as the chore starts (then :meth:`done` as it ends)."""
        self._started = self._clock()

    def done(self) -> None:
        """Call as the chore ends: sets when it is next due from what it cost."""
        now = self._clock()
        self.cost = now - self._started
        self._due_at = now + max(self._every - self.cost, self.cost / self._share)
