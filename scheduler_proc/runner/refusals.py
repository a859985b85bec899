"""Fires that are not run because of the ledger's answer (or its silence), each said once.

The fire path asks the ledger; what it cannot run is logged here with the reason an operator
needs, counted in the metrics, and, when it will run nowhere, written to the history.
"""

from __future__ import annotations

import logging

from scheduler_proc.coordination.records import ClaimResult
from scheduler_proc.errors import LedgerError
from scheduler_proc.runner.flight import Flight, fire_fields
from scheduler_proc.runner.metrics import Metrics
from scheduler_proc.runner.records import FireRecords

log = logging.getLogger("scheduler.fire")

REFUSALS = {
    ClaimResult.DUPLICATE: "already claimed by another run",
    ClaimResult.FENCED: "this node's leadership term is no longer current",
    ClaimResult.UNREPLICATED: "claim not acknowledged by enough replicas",
    ClaimResult.UNAVAILABLE: (
        "no answer from the ledger, and this node no longer leads; if the claim reached the store, "
        "the fire counts as run (at most once)"
    ),
    ClaimResult.FLOORED: (
        "skipped: scheduled before the cluster's floor (the store may have lost the claims of that time, "
        "so it cannot be proven unrun)"
    ),
    ClaimResult.BUSY: "max_instances of the job are running already (in this process, under any term, or elsewhere)",
    ClaimResult.EARLY: (
        "the claim reached the store more than 2 x SCHEDULER_MAX_CLOCK_OFFSET before the fire's time by its "
        "clock: this host's clock runs ahead (it steps down), so the fire is left to whoever leads when it is due"
    ),
}


class ClaimRefusals:
    """Logs, counts and records the fires a claim did not grant."""

    def __init__(self, node: str, metrics: Metrics, records: FireRecords) -> None:
        self._node = node
        self._metrics = metrics
        self._records = records
        self._not_started = 0  # fires not run since the ledger stopped recording claims

    def refused(self, flight: Flight, claim: ClaimResult) -> None:
        """The ledger refused the claim; a fire that runs nowhere is written to the history as skipped."""
        reason = REFUSALS[claim]
        flight.refusal = claim
        log.warning("fire refused %s reason=%s: %s", fire_fields(flight, self._node), claim.value, reason)
        self._metrics.fire_refused(flight.job_id, claim.value)
        if claim in (ClaimResult.UNREPLICATED, ClaimResult.FLOORED):  # not run anywhere: history says so
            self._metrics.fire_skipped(flight.job_id, claim.value)
            self._records.skip_hook(flight, reason)
            self._records.skipped(flight, reason)
        flight.decide(reason)

    def unrecordable(self, flights: list[Flight], exc: LedgerError) -> None:
        """Fires whose claim the ledger cannot record are not run: the first says why, a count follows."""
        for flight in flights:
            if not self._not_started:
                log.warning(
                    "fire not started %s: %s; nor are later fires until the ledger records claims again",
                    fire_fields(flight, self._node),
                    exc.summary,
                )
            self._not_started += 1
            flight.decide(f"not started: {exc.summary}")

    def recordable(self) -> None:
        """The ledger answered a claim: after an outage, say how many fires it cost."""
        if self._not_started:
            log.warning("the ledger records claims again; %d fire(s) were not started meanwhile", self._not_started)
            self._not_started = 0

    def not_leading(self, flights: list[Flight], failures: int) -> None:
        """This node stopped leading (or never did) while the fires were to be claimed."""
        for flight in flights:
            if failures:
                self.refused(flight, ClaimResult.UNAVAILABLE)
            else:
                log.info("fire not started %s: not leading", fire_fields(flight, self._node))
                flight.decide("not started: this node does not lead")
