"""The misfire check: a fire later than its job's misfire grace is not claimed, only counted.

Checked before each claim and again before each retry of a claim, so a claim that waited
on Redis (or for a running instance) never starts a fire that is too late.
"""

from __future__ import annotations

import logging
from datetime import datetime

from scheduler_proc import clock
from scheduler_proc.jobs import JobSpec
from scheduler_proc.runner.flight import Flight
from scheduler_proc.runner.metrics import Metrics

log = logging.getLogger("scheduler.fire")


class MisfireCheck:
    """Sorts fires into those still due and those missed (which are decided, logged and counted)."""

    def __init__(self, specs: dict[str, JobSpec], default_grace: float, node: str, metrics: Metrics) -> None:
        self._specs = specs
        self._default_grace = default_grace
        self._node = node
        self._metrics = metrics

    def due(self, flights: list[Flight]) -> list[Flight]:
        """The fires still within their misfire grace; the others are missed."""
        now = clock.wall()
        due = []
        for flight in flights:
            if self._still_due(self._specs[flight.job_id], flight.scheduled_at, now):
                due.append(flight)
            else:
                flight.decide("missed: later than its misfire grace")
        return due

    def _still_due(self, spec: JobSpec, scheduled_at: datetime, now: float) -> bool:
        grace = spec.misfire_grace_time if spec.misfire_grace_time is not None else self._default_grace
        grace += spec.jitter  # a jittered fire is claimed after its random delay
        late = now - scheduled_at.timestamp()
        if late > grace:
            log.warning(
                "fire missed job=%s scheduled_at=%s node=%s: %.1fs late, misfire grace is %gs",
                spec.id,
                scheduled_at.isoformat(),
                self._node,
                late,
                grace,
            )
            self._metrics.fire_missed(spec.id)
            return False
        return True
