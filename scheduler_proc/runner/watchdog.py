"""Is the dispatch loop alive? A hang (a deadlock, a stuck thread) must not keep the lease.

gunicorn kills a worker that stops answering, uvicorn pings its children; the kit does the
same for the loop that starts fires. The runner nudges APScheduler's thread every second;
every pass through it (and every chunk of claims) beats. When no beat came for the
timeout, the runner gives the lease up, dumps every thread's stack to the log and exits,
and its supervisor starts a new one. Jobs that merely run long are not watched: they run
on threads of their own.
"""

from __future__ import annotations

import faulthandler
import logging
import sys
import time
from collections.abc import Callable

log = logging.getLogger("scheduler.watchdog")

#: The runner nudges the dispatch loop this often (and writes its heartbeat to the supervisor).
NUDGE_EVERY = 1.0


class Watchdog:
    """The last beat of the dispatch loop, on the monotonic clock."""

    def __init__(self, timeout: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self._clock = clock
        self._beat = clock()
        self._watching = False

    def beat(self) -> None:
        """The dispatch loop made progress (cheap: a float store, from any thread)."""
        self._beat = self._clock()

    def watch(self, on: bool) -> None:
        """Watch only while the loop is expected to run (an engine dispatches); resets the beat."""
        self._watching = on
        self._beat = self._clock()

    def stuck_for(self) -> float:
        """Seconds since the last beat, when that is past the timeout and we watch; else 0."""
        if not self._watching:
            return 0.0
        silent = self._clock() - self._beat
        return silent if silent > self.timeout else 0.0

    @property
    def keep_lease(self) -> bool:
        """For the lease keeper, a backstop: the runner's loop acts on a hang first (at the timeout, then
        it gives the lease up itself); past the timeout plus two nudges, that loop hangs too."""
        if not self._watching:
            return True
        return self._clock() - self._beat <= self.timeout + 2 * NUDGE_EVERY


def dump_stacks(why: str) -> None:
    """One log line saying what is stuck, then every thread's stack (faulthandler: works whatever holds the GIL)."""
    log.error("%s; the stacks of its threads follow", why)
    for handler in logging.getLogger().handlers:
        handler.flush()
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
