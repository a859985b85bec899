"""Writes run records to the ledger from a thread of its own, in batches.

Recording an outcome costs a ledger write (SQLite or a Redis round trip). Done on the
job's thread, it delays the next fires of a busy second; here it happens beside them.
``flush`` waits until everything handed over is written: the runner calls it before exit.
"""

from __future__ import annotations

import logging
import queue
import threading

from scheduler_proc.ledger import Ledger, Run

log = logging.getLogger("scheduler.recorder")


class Recorder:
    """A queue of finished runs and the thread that writes them."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._queue: queue.Queue[Run] = queue.Queue()
        self._thread = threading.Thread(target=self._write_forever, name="run-recorder", daemon=True)
        self._thread.start()

    def record(self, run: Run) -> None:
        self._queue.put(run)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every record handed over so far is written; False on timeout."""
        done = threading.Event()

        def wait_for_queue() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait_for_queue, daemon=True).start()
        return done.wait(timeout)

    def _write_forever(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < 1000:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._ledger.finish_many(batch)
            except Exception:  # a record lost must not stop the recording of later ones
                log.exception("could not record %d run(s)", len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()
