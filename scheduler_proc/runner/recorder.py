"""Writes run records to the ledger from a thread of its own, in batches.

Recording an outcome costs a ledger write (SQLite or a Redis round trip) plus metrics
and state updates. Done on the job's thread, it delays the next fires of a busy second;
here it happens beside them. Handing a record over wakes nobody (a deque append), and
while fires are still being started the writer waits (up to ``LINGER_MAX``), so a burst
is recorded in a few large writes once it has started rather than competing with it.
``flush`` waits until everything handed over is written: the runner calls it before exit.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable

from scheduler_proc.coordination.interfaces import Ledger
from scheduler_proc.coordination.records import Run
from scheduler_proc.errors import LedgerError

log = logging.getLogger("scheduler.recorder")

#: A batch is written once no run finished for LINGER_QUIET seconds and no fire waits to
#: start, or LINGER_MAX after the writer woke, whichever is first.
LINGER_QUIET = 0.02
LINGER_MAX = 2.0


def _never_busy() -> bool:
    return False


class Recorder:
    """A queue of finished runs and the thread that writes them."""

    def __init__(self, ledger: Ledger, on_recorded: Callable[[list[Run]], None] | None = None) -> None:
        self._ledger = ledger
        self._on_recorded = on_recorded
        self._busy: Callable[[], bool] = _never_busy
        self._runs: collections.deque[Run] = collections.deque()
        self._taken = 0  # runs off the deque and being written
        self._written = 0
        self._arrived = threading.Event()
        self._flushing = 0  # callers waiting in flush: while any, write without lingering
        self._progress = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._write_forever, name="run-recorder", daemon=True)
        self._thread.start()

    def yield_to(self, busy: Callable[[], bool]) -> None:
        """Hold batches back while ``busy()`` says fires are being started (up to LINGER_MAX)."""
        self._busy = busy

    def record(self, run: Run) -> None:
        self._runs.append(run)
        self._arrived.set()

    def idle(self) -> bool:
        """True when every record handed over so far is written."""
        with self._progress:
            return not self._runs and not self._taken

    def close(self) -> None:
        """Write what was handed over, then end the thread (an engine that never started has nothing to record)."""
        self._closed = True
        self._arrived.set()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every record handed over so far is written; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._progress:
            target = self._written + len(self._runs) + self._taken
            self._flushing += 1
            self._arrived.set()
            try:
                return self._progress.wait_for(lambda: self._written >= target, max(0.0, deadline - time.monotonic()))
            finally:
                self._flushing -= 1

    def _next_batch(self) -> list[Run]:
        if not self._closed:  # close() sets the flag before the event: a wake-up is never lost
            self._arrived.wait()
        self._arrived.clear()
        deadline = time.monotonic() + LINGER_MAX
        while time.monotonic() < deadline and not self._flushing:
            seen = len(self._runs)
            time.sleep(LINGER_QUIET)
            if len(self._runs) == seen and not self._busy():
                break
        batch = []
        with self._progress:
            while self._runs:
                batch.append(self._runs.popleft())
            self._taken = len(batch)
        return batch

    def _write_forever(self) -> None:
        while True:
            batch = self._next_batch()
            if not batch:
                if self._closed:
                    return
                continue
            try:
                if self._on_recorded is not None:
                    self._on_recorded(batch)
            except Exception:  # metrics are not worth a lost record
                log.exception("could not count %d run(s) in the metrics", len(batch))
            try:
                self._ledger.finish_many(batch)
            except LedgerError as exc:  # the runner's health says why (scheduler_proc.problems)
                log.warning("could not record the outcome of %d run(s): %s", len(batch), exc.summary)
            except Exception:  # a record lost must not stop the recording of later ones
                log.exception("could not record %d run(s)", len(batch))
            finally:
                with self._progress:
                    self._written += len(batch)
                    self._taken = 0
                    self._progress.notify_all()
