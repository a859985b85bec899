"""The runner's signs of life: nudging the dispatch loop, and the heartbeat its supervisor waits for.

Once a second the runner's loop wakes APScheduler's thread (whose pass beats the watchdog)
and writes a ``beat`` report on its pipe; the supervisor kills a runner whose beats stop.
Claims that retry on Redis beat too: waiting on Redis is not a hang.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from scheduler_proc.formats.reports import Report
from scheduler_proc.procutil import send_report
from scheduler_proc.runner.engine import Engine
from scheduler_proc.runner.watchdog import NUDGE_EVERY, Watchdog


class Liveness:
    """Nudges, beats and watches; calls ``on_hang`` (which does not return) when the dispatch loop hangs."""

    def __init__(
        self,
        watchdog: Watchdog,
        report_fd: int,
        on_hang: Callable[[float], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.watchdog = watchdog
        self._report_fd = report_fd
        self._on_hang = on_hang
        self._clock = clock
        self._nudged_at = float("-inf")
        self._beat_sent = float("-inf")

    def check(self, engine: Engine | None) -> None:
        """Once a second: nudge the dispatch loop, tell the supervisor we live; give up if the loop hangs."""
        if self._clock() - self._nudged_at < NUDGE_EVERY:
            return
        self._nudged_at = self._clock()
        stuck = self.watchdog.stuck_for()
        if stuck:
            self._on_hang(stuck)
            return
        if engine is not None:
            engine.nudge()
        self._tell_the_supervisor_we_live()

    def progress(self) -> None:
        """Claims retrying on Redis call this between tries: the dispatch loop is fed, and when the
        retries run on this loop (fires waiting for an instance, manual runs), the supervisor hears
        from us too: waiting on Redis is not a hang, and must not get the runner aborted."""
        self.watchdog.beat()
        on_this_loop = threading.current_thread() is threading.main_thread()
        if on_this_loop and self._clock() - self._beat_sent >= NUDGE_EVERY:
            self._tell_the_supervisor_we_live()

    def _tell_the_supervisor_we_live(self) -> None:
        self._beat_sent = self._clock()
        send_report(self._report_fd, Report(event="beat"))
