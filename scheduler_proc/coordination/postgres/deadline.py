"""A deadline on each call to PostgreSQL, kept by one thread for the whole process.

statement_timeout and the TCP timeouts do not bound a server that is paused or hung while its
kernel still acknowledges (SIGSTOP, a stalled disk): a call would wait for it forever, and with
it the lease thread (a clean stop too). Past its deadline a call's socket is shut down, so the
call fails at once and the caller connects again. One watchdog thread for every deadline: a
thread per call cost about 0.2 ms, more than a statement on a local server.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from scheduler_proc.settings import PostgresSettings


class Socketed(Protocol):
    """A connection (psycopg's) or socket: what a deadline cuts."""

    def fileno(self) -> int: ...


def answer_deadline(settings: PostgresSettings) -> float:
    """How long a caller waits for an answer before it cuts the connection: past the server's own
    statement_timeout (whose error normally comes first), well inside the lease."""
    return settings.socket_timeout + max(0.25, settings.socket_timeout)


@dataclass
class _Armed:
    due: float  # time.monotonic()
    target: Socketed
    cut: threading.Event


class _Watchdog:
    """Cuts the socket of every call that outlives its deadline; sleeps until the earliest one."""

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._armed: dict[int, _Armed] = {}
        self._keys = itertools.count()
        self._sleeps_until = float("inf")
        self._thread: threading.Thread | None = None

    def arm(self, target: Socketed, seconds: float) -> tuple[int, threading.Event]:
        armed = _Armed(time.monotonic() + seconds, target, threading.Event())
        with self._wake:
            key = next(self._keys)
            self._armed[key] = armed
            if self._thread is None or not self._thread.is_alive():  # first use, or a forked child
                self._thread = threading.Thread(target=self._watch, name="postgres-deadlines", daemon=True)
                self._thread.start()
            elif armed.due < self._sleeps_until:
                self._wake.notify()
        return key, armed.cut

    def disarm(self, key: int) -> None:
        with self._wake:
            self._armed.pop(key, None)

    def _watch(self) -> None:
        with self._wake:
            while True:
                now = time.monotonic()
                for key in [key for key, armed in self._armed.items() if armed.due <= now]:
                    _cut(self._armed.pop(key))
                self._sleeps_until = min((armed.due for armed in self._armed.values()), default=float("inf"))
                self._wake.wait(None if self._sleeps_until == float("inf") else self._sleeps_until - now)


def _cut(armed: _Armed) -> None:
    armed.cut.set()
    with contextlib.suppress(OSError, ValueError):
        fd = os.dup(armed.target.fileno())
        with socket.socket(fileno=fd) as sock:  # a duplicate: shutting it down stops the original's reads
            sock.shutdown(socket.SHUT_RDWR)


_WATCHDOG = _Watchdog()


@contextlib.contextmanager
def deadline(target: Socketed, seconds: float) -> Iterator[threading.Event]:
    """Cut ``target``'s socket if the block still runs after ``seconds``; the event yielded is set if it did."""
    key, cut = _WATCHDOG.arm(target, seconds)
    try:
        yield cut
    finally:
        _WATCHDOG.disarm(key)
