"""The catch-up policy: where each job resumes when an engine starts (a start, failover or new term).

Each job resumes after its last claimed fire, so fires missed while no scheduler ran are
caught up if they are still within the job's misfire grace; older ones are logged and
counted as missed. When the store (Redis, PostgreSQL) may have lost claims, the cluster's floor stands in for the
last claim of every job claimed before it (fires up to it cannot be proven unrun).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from apscheduler.util import undefined

from scheduler_proc import clock
from scheduler_proc.coordination.interfaces import Ledger
from scheduler_proc.jobs import JobSpec

log = logging.getLogger("scheduler.engine")


class CatchUp:
    """Computes each job's first fire for a new engine, from the ledger's last claims and floor."""

    def __init__(
        self,
        specs: dict[str, JobSpec],
        ledger: Ledger,
        default_grace: float,
        missed: Callable[[str, datetime, datetime], None],
    ) -> None:
        self._specs = specs
        self._ledger = ledger
        self._default_grace = default_grace
        self._missed = missed  # counts the fires (job, first, until) missed while no scheduler ran

    def first_fires(self, floor: datetime | None, paused: set[str]) -> dict[str, Any]:
        """Each job's first fire, as APScheduler's ``next_run_time`` (None for paused jobs).

        ``floor`` is the earliest time a job that was never claimed may start from.
        """
        now = clock.now()
        lasts = self._ledger.last_claimed_all()  # one read for all jobs: start must stay fast
        resume_floor = self._ledger.resume_floor()
        if resume_floor is not None:
            lasts = self.settle_floor(lasts, *resume_floor)
            self._log_unclaimed(lasts, now, *resume_floor)
            floor = max(floor or now, resume_floor[0] + timedelta(microseconds=1))
        return {
            spec.id: None if spec.id in paused else self.resume_at(spec, now, floor or now, lasts.get(spec.id))
            for spec in self._specs.values()
        }

    def settle_floor(self, lasts: dict[str, datetime], at: datetime, reason: str) -> dict[str, datetime]:
        """Treat the cluster's floor as the last claim of every job claimed before it.

        The floor is set when the store may have lost claims (a restart, older data, a
        failover): fires up to it cannot be proven unrun. Each job whose last claim is
        older logs the fires it skips, once: the floor is then written as its last claim.
        (Jobs never claimed simply start after the floor.)
        """
        behind = [spec for spec in self._specs.values() if spec.id in lasts and lasts[spec.id] < at]
        for spec in behind:
            first = first_after(spec, lasts[spec.id])
            if first is not None and first <= at:
                log.warning(
                    "job %s: fires from %s to %s are not started: %s; those claimed before the loss may have "
                    "run before the store lost their claims, the others did not run. Check the job's own records "
                    "before running any by hand",
                    spec.id,
                    first.isoformat(),
                    at.isoformat(),
                    reason,
                )
        if behind:
            self._ledger.settle([spec.id for spec in behind], at)
        return {**lasts, **{spec.id: at for spec in behind}}

    def _log_unclaimed(self, lasts: dict[str, datetime], now: datetime, at: datetime, reason: str) -> None:
        """Jobs with no claim in the store start after a recent floor: say so once, for all of them."""
        unclaimed = [spec.id for spec in self._specs.values() if spec.id not in lasts]
        if unclaimed and at > now:
            log.warning(
                "%d job(s) have no claim in the store (%s): their fires from %s to %s are not started (a leader "
                "whose clock ran ahead may have run some before the store lost its data): %s",
                len(unclaimed),
                reason,
                now.isoformat(),
                at.isoformat(),
                ", ".join(sorted(unclaimed)[:20]) + (" ..." if len(unclaimed) > 20 else ""),
            )

    def resume_at(self, spec: JobSpec, now: datetime, floor: datetime | None, last: datetime | None) -> Any:
        """The job's first fire after its last claim ``last``, or its next one after the misfire grace."""
        if last is None:  # never claimed (or the ledger lost it): no catch-up, start after the floor
            return spec.trigger.get_next_fire_time(None, floor or now) or undefined
        grace = spec.misfire_grace_time if spec.misfire_grace_time is not None else self._default_grace
        earliest = now - timedelta(seconds=grace)
        resume = first_after(spec, last)
        if resume is not None and resume < earliest:
            log.warning(
                "job %s: fires from %s until %s were missed while no scheduler ran "
                "(older than its misfire grace of %gs)",
                spec.id,
                resume.isoformat(),
                earliest.isoformat(),
                grace,
            )
            self._missed(spec.id, resume, earliest)
            resume = spec.trigger.get_next_fire_time(None, earliest)
        return undefined if resume is None else resume


def first_after(spec: JobSpec, last: datetime) -> datetime | None:
    """The job's first fire after ``last``, on its own schedule.

    Not APScheduler's "previous fire plus the interval": after a floor, ``last`` is an instant
    off an interval job's grid, and every later fire would stay off it.
    """
    first: datetime | None = spec.trigger.get_next_fire_time(None, last + timedelta(microseconds=1))
    return first
