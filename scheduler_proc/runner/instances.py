"""Counts each job's runs in progress in this process, across all its engines (for max_instances).

An engine lives for one leadership term (or one hold of the host lock), but the runs it
started outlive it: a node that loses the lease and leads again has a new engine while the
old one's jobs still run. Counting per engine let the new one start a second instance beside
them; every engine of a process shares one :class:`Instances` instead.
"""

from __future__ import annotations

import collections
import threading


class Instances:
    """Runs of each job this process claimed (or is claiming) and that have not ended, whatever their term.

    A claim *reserves* a place before it asks the ledger and gives it back if refused, so two
    claims of one job at the same moment (APScheduler's thread and the retry of a waiting
    fire, or a retired engine's catch-up) never both see a free place.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: collections.Counter[str] = collections.Counter()

    def reserve(self, job_id: str) -> int:
        """Count one more run of ``job_id``; returns how many were counted before it."""
        with self._lock:
            before = self._counts[job_id]
            self._counts[job_id] = before + 1
            return before

    def release(self, job_id: str) -> None:
        """A run of ``job_id`` ended, or its claim was refused: its place is free again."""
        with self._lock:
            left = self._counts[job_id] - 1
            if left > 0:
                self._counts[job_id] = left
            else:
                del self._counts[job_id]

    def running(self, job_id: str) -> int:
        """Runs of ``job_id`` counted now (claimed or being claimed, not ended)."""
        with self._lock:
            return self._counts[job_id]
