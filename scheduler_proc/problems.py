"""This process's local troubles: logged once per change, published in the status file, health red.

A directory the runner cannot write, a corrupt ledger, a Redis that refuses writes: each is
reported under a key while it lasts and resolved when it is gone. ``summary`` is short and
names no path (``/scheduler/readyz`` answers anyone with it); ``detail`` names the path or
target and the fix (the log, ``/scheduler/status`` and ``scheduler-proc check``).
"""

from __future__ import annotations

import logging
import threading

from scheduler_proc.formats.status import Problem

log = logging.getLogger("scheduler.health")


_current: dict[str, Problem] = {}
_lock = threading.Lock()


def report(key: str, summary: str, detail: str) -> None:
    """``key`` is in trouble: logged at ERROR when new or changed, not on every retry."""
    problem = Problem(summary=summary, detail=detail)
    with _lock:
        if _current.get(key) == problem:
            return
        _current[key] = problem
    log.error("%s", detail)


def resolved(key: str, message: str) -> bool:
    """``key``'s trouble is over (logged once, if there was one); True if there was one."""
    with _lock:
        if _current.pop(key, None) is None:
            return False
    log.info("%s", message)
    return True


def current(excluding: tuple[str, ...] = ()) -> list[Problem]:
    """The troubles of this process now, oldest first (but those under the keys ``excluding``)."""
    with _lock:
        return [problem for key, problem in _current.items() if key not in excluding]


def merged(*groups: list[Problem]) -> list[Problem]:
    """Several lists of problems as one, each summary once (the first detail given for it is kept)."""
    seen: dict[str, Problem] = {}
    for group in groups:
        for problem in group:
            seen.setdefault(problem["summary"], problem)
    return list(seen.values())
