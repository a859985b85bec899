"""Claiming due fires from the ledger: one round trip per batch, retried while it goes unanswered.

Claims that got no answer are sent again, the wait doubling from ``RETRY_FIRST`` up to
``RETRY_MAX``, while this node leads and the fires are within their misfire grace (with
the same run ids: the ledger grants a fire again to the run that claimed it, so a lost
reply is harmless).
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable

from scheduler_proc.coordination.interfaces import Ledger
from scheduler_proc.coordination.records import ClaimRequest, ClaimResult
from scheduler_proc.coordination.term import Term
from scheduler_proc.errors import LedgerError
from scheduler_proc.jobs import JobSpec
from scheduler_proc.runner.flight import Flight
from scheduler_proc.runner.flights import FlightTable
from scheduler_proc.runner.misfire import MisfireCheck
from scheduler_proc.runner.records import FireRecords
from scheduler_proc.runner.refusals import ClaimRefusals
from scheduler_proc.runner.waiting import WaitingFires

log = logging.getLogger("scheduler.fire")

RETRY_FIRST = 0.1
RETRY_MAX = 1.0


class Claimer:
    """Gates, misfire-checks and claims fires; each holds a place among its job's instances while claimed."""

    def __init__(
        self,
        specs: dict[str, JobSpec],
        ledger: Ledger,
        node: str,
        dispatch_term: Callable[[], Term | None],
        table: FlightTable,
        misfire: MisfireCheck,
        refusals: ClaimRefusals,
        waiting: WaitingFires,
        records: FireRecords,
        progress: Callable[[], None],
    ) -> None:
        self._specs = specs
        self._ledger = ledger
        self._node = node
        self._dispatch_term = dispatch_term
        self._table = table
        self._misfire = misfire
        self._refusals = refusals
        self._waiting = waiting
        self._records = records
        self._progress = progress  # claim retries keep the watchdog fed: waiting on Redis is not a hang

    def claim(self, flights: list[Flight]) -> None:
        """Claim the fires, tracked as in flight from before the gate; those not claimed leave the table."""
        self._table.track(flights)
        try:
            self._claim(flights)
        finally:
            self._table.release([flight for flight in flights if not flight.claimed])

    def _claim(self, flights: list[Flight]) -> None:
        """Claim the fires still due, each holding a place among the process's instances of its job
        from before it asks the ledger until its run ends (given back if it is not claimed)."""
        pending = self._misfire.due(flights)
        ahead = self._reserve(pending)
        try:
            self._claim_due(pending, ahead)
        finally:
            for flight in pending:
                if not flight.claimed:
                    self._table.instances.release(flight.job_id)

    def _reserve(self, flights: list[Flight]) -> dict[Flight, int]:
        """Take a place per fire; how many runs of its job the ledger must count as this process's.

        That is every run of this process (all engines, all terms) and every claim that took
        its place before this one, but not the earlier fires of the same submission: those
        run one after the other on one thread. A claim that took its place later counts this
        one, so of two claims at once at most one sees a free place. Kept through retries: a
        count that grew stale only ever counts a run that ended since (safe).
        """
        ahead: dict[Flight, int] = {}
        same_submission: collections.Counter[tuple[str, int]] = collections.Counter()
        for flight in flights:
            reserved = self._table.instances.reserve(flight.job_id)
            ahead[flight] = reserved - same_submission[flight.job_id, flight.group]
            same_submission[flight.job_id, flight.group] += 1
        return ahead

    def _claim_due(self, pending: list[Flight], ahead: dict[Flight, int]) -> None:
        """Claim the fires; retry those the ledger did not answer while we lead and they are due."""
        delay, failures = RETRY_FIRST, 0
        while pending:
            term = self._dispatch_term()
            if term is None:
                self._refusals.not_leading(pending, failures)
                return
            unanswered = self._ask_ledger(pending, ahead, term)
            if unanswered is None:
                return
            if not unanswered:
                if failures:
                    log.info("claims answered again after %d retries", failures)
                return
            if not failures:
                log.warning(
                    "claim of %d fire(s) got no answer from the ledger; retrying while this node leads "
                    "and each fire is within its misfire grace",
                    len(unanswered),
                )
            failures += 1
            self._progress()
            time.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)
            pending = self._misfire.due(unanswered)

    def _ask_ledger(self, pending: list[Flight], ahead: dict[Flight, int], term: Term) -> list[Flight] | None:
        """Claim the fires under ``term``; those the ledger did not answer, or None when it cannot record
        claims (then none is run: the runner's health shows why, see scheduler_proc.problems)."""
        requests = [self._request(flight, ahead[flight]) for flight in pending]
        try:
            results = self._ledger.claim_many(requests, term, self._node)
        except LedgerError as exc:
            self._refusals.unrecordable(pending, exc)
            return None
        self._refusals.recordable()
        unanswered = []
        for flight, result in zip(pending, results, strict=True):
            if result is ClaimResult.CLAIMED:
                flight.claimed, flight.term = True, term  # it keeps its place until its run ends
                self._records.activity += 1
            elif result is ClaimResult.UNAVAILABLE:
                unanswered.append(flight)
            elif result is ClaimResult.BUSY and flight.origin == "schedule":
                self._waiting.park(flight)
            else:
                self._refusals.refused(flight, result)
        early = [flight for flight, result in zip(pending, results, strict=True) if result is ClaimResult.EARLY]
        if early:
            term.clock_ahead(early[0].scheduled_at)
        return unanswered

    def _request(self, flight: Flight, running: int) -> ClaimRequest:
        spec = self._specs[flight.job_id]
        return ClaimRequest(
            flight.job_id, flight.scheduled_at, flight.run_id, flight.origin == "manual", spec.max_instances, running
        )
