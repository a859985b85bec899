"""Logs each unreadable stored value once per key and per value, not once per read.

Backend-neutral: a Redis key, a history list or a file the kit reads back may hold
anything someone wrote there; the reader skips or replaces it and reports it here.
"""

from __future__ import annotations

import logging
import threading

from scheduler_proc.errors import UnreadableData

log = logging.getLogger("scheduler.data")

_reported: dict[str, str] = {}
_reported_lock = threading.Lock()


def report(error: UnreadableData) -> None:
    """Log ``error`` unless the same was logged for its key already (once per key and per value)."""
    with _reported_lock:
        message = str(error)
        if _reported.get(error.key) == message:
            return
        _reported[error.key] = message
    log.warning("%s", message)


def readable(key: str) -> None:
    """``key`` reads well again: a later unreadable value is logged anew."""
    with _reported_lock:
        _reported.pop(key, None)
