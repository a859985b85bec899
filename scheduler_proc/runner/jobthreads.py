"""The threads that run jobs: a fixed set fed from one queue.

Cheaper per fire than ``concurrent.futures.ThreadPoolExecutor`` (no Future, no
semaphore dance), which matters when ten thousand fires are due in the same second.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("scheduler.jobthreads")

_Task = tuple[Callable[..., None], tuple[Any, ...]]


class JobThreads:
    """Runs submitted calls on ``size`` threads; a shutdown lets every queued call still run."""

    def __init__(self, size: int, name: str = "job") -> None:
        self._queue: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self._lock = threading.Lock()  # a submit and a shutdown never interleave
        self._closed = False
        self._queued = 0  # calls not yet picked up (the queue also holds the shutdown's sentinels)
        self._threads = [threading.Thread(target=self._work, name=f"{name}_{i}", daemon=True) for i in range(size)]
        for thread in self._threads:
            thread.start()

    def submit(self, function: Callable[..., None], *args: Any) -> None:
        """Queue a call; after shutdown it runs in the caller's thread (claimed fires must still run)."""
        with self._lock:
            if not self._closed:
                self._queued += 1
                self._queue.put((function, args))
                return
        function(*args)

    def ended(self) -> bool:
        """True once shut down and every thread has run its last call."""
        return self._closed and not any(thread.is_alive() for thread in self._threads)

    def backlog(self) -> int:
        """Calls waiting for a free thread."""
        return self._queued

    def shutdown(self, wait: bool = True) -> None:
        """Take no more calls; the queued ones still run. ``wait`` joins the threads."""
        with self._lock:
            if not self._closed:
                self._closed = True
                for _ in self._threads:
                    self._queue.put(None)
        if wait:
            for thread in self._threads:
                if thread is not threading.current_thread():
                    thread.join()

    def _work(self) -> None:
        while (task := self._queue.get()) is not None:
            with self._lock:
                self._queued -= 1
            function, args = task
            try:
                function(*args)
            except Exception:  # the callers catch their own; this keeps the thread alive regardless
                log.exception("a job thread's task failed")
