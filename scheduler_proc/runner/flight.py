"""A fire in flight: the record every part of the fire path (claims, runs, records) passes along.

Terms used here: a *fire* is one (job id, scheduled instant); a *claim* is the ledger's
record that one run owns a fire (granted at most once); a *flight* is a fire between its
first check and its end in this process.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from scheduler_proc.coordination.records import ClaimResult
from scheduler_proc.coordination.term import Term
from scheduler_proc.formats.vocabulary import RunOrigin


@dataclass(eq=False)
class Flight:
    """One fire between its first check and its end; ``claimed`` once the ledger granted it."""

    job_id: str
    scheduled_at: datetime
    run_id: str
    origin: RunOrigin  # its schedule, or an operator's run now
    claimed: bool = False
    started_at: float = 0.0
    term: Term | None = None  # the leadership term (or host-lock hold) it was claimed under
    decided: threading.Event | None = None  # set once it started or was refused (manual runs wait on it)
    verdict: str = ""  # what became of it: "ran", or why it did not run
    refusal: ClaimResult | None = None  # the ledger's answer, when it refused the claim
    waited: bool = False  # it waited for a running instance (logged once)
    group: int = 0  # fires of one submission share it: they run one after the other, never side by side

    def decide(self, verdict: str) -> None:
        """Say what became of the fire; a manual run waiting on ``decided`` learns it at once."""
        self.verdict = verdict
        if self.decided is not None:
            self.decided.set()

    @property
    def fencing_token(self) -> int | None:
        """The term's fencing token, or None (single host, or the claim was refused before a term)."""
        return self.term.fencing_token if self.term is not None else None


def fire_fields(flight: Flight, node: str) -> str:
    """The fields every log line about a fire starts with."""
    return f"job={flight.job_id} scheduled_at={flight.scheduled_at.isoformat()} node={node} run_id={flight.run_id}"
