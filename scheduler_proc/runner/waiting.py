"""Scheduled fires that wait for a running instance of their job (refused as BUSY by the ledger).

With a ledger that counts instances across the cluster, a fire over ``max_instances`` is not
dropped: it waits here, and the runner's loop claims it again until it is granted or falls
out of its misfire grace. A stop leaves them unclaimed, for the next leader to catch up.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from scheduler_proc.jobs import JobSpec
from scheduler_proc.runner.flight import Flight, fire_fields
from scheduler_proc.runner.metrics import Metrics

log = logging.getLogger("scheduler.fire")


class WaitingFires:
    """The fires waiting for an instance, per job, in the order they were due."""

    def __init__(self, specs: dict[str, JobSpec], node: str, metrics: Metrics) -> None:
        self._specs = specs
        self._node = node
        self._metrics = metrics
        self._lock = threading.Lock()
        self._waiting: dict[str, list[Flight]] = {}

    def park(self, flight: Flight) -> None:
        """A scheduled fire over max_instances waits (retried while within its misfire grace)."""
        if not flight.waited:
            flight.waited = True
            log.info(
                "fire waits %s: max_instances=%d of the job are running already (in this process, under any "
                "term, or on another node); it starts when one ends, if still within its misfire grace",
                fire_fields(flight, self._node),
                self._specs[flight.job_id].max_instances,
            )
        self._add(flight.job_id, [flight])

    def retry(self, claim: Callable[[list[Flight]], None]) -> list[list[Flight]]:
        """Claim again the first waiting fire of each job; the claimed ones, grouped per job.

        A job that coalesces keeps only its latest waiting fire; a fire that waited past its
        misfire grace is missed (the claim checks it), and one refused as BUSY again comes back.
        """
        with self._lock:
            waiting, self._waiting = self._waiting, {}
        claimed = []
        for job_id, parked in waiting.items():
            # In time order, whatever order they were parked in: another thread may park a newer fire
            # while this claims (the first, refused again, then comes back after it).
            flights = sorted(parked, key=lambda flight: flight.scheduled_at)
            if self._specs[job_id].coalesce and len(flights) > 1:
                for dropped in flights[:-1]:
                    dropped.decide("coalesced into a later fire")
                self._metrics.fire_skipped(job_id, "coalesced", len(flights) - 1)
                flights = flights[-1:]
            first, rest = flights[0], flights[1:]
            claim([first])
            if first.claimed:
                claimed.append([first])
            if rest:
                self._add(job_id, rest)
        return claimed

    def drop(self) -> None:
        """The scheduler stops: fires still waiting are left unclaimed, for the next leader to catch up."""
        with self._lock:
            waiting, self._waiting = self._waiting, {}
        for flights in waiting.values():
            for flight in flights:
                log.info(
                    "fire not started %s: it waited for a running instance when this node stopped leading",
                    fire_fields(flight, self._node),
                )
                flight.decide("not started: this node stopped leading while it waited")

    def _add(self, job_id: str, flights: list[Flight]) -> None:
        with self._lock:
            self._waiting.setdefault(job_id, []).extend(flights)
