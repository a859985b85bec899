"""An operator's 'run now', as the leader answers it: what became of the fire within a short wait."""

from __future__ import annotations

from dataclasses import dataclass

from scheduler_proc.coordination.records import ClaimResult
from scheduler_proc.formats.vocabulary import ManualRunResult
from scheduler_proc.runner.flight import Flight


@dataclass(frozen=True)
class ManualRun:
    """What became of a 'run now': ``outcome`` is ran, queued, already-ran or refused; ``reason`` says more."""

    run_id: str
    outcome: ManualRunResult
    reason: str

    @property
    def ok(self) -> bool:
        return self.outcome != "refused"


def manual_run_result(flight: Flight, wait: float) -> ManualRun:
    """Wait up to ``wait`` s for the claimed (or refused) manual fire to be decided, and say what became of it."""
    assert flight.decided is not None
    if not flight.decided.wait(wait):
        return ManualRun(flight.run_id, "queued", "claimed; it starts when a job thread is free")
    if flight.verdict == "ran":
        return ManualRun(flight.run_id, "ran", "started")
    if flight.refusal is ClaimResult.DUPLICATE:
        return ManualRun(flight.run_id, "already-ran", "this command was carried out before (its fire is claimed)")
    return ManualRun(flight.run_id, "refused", flight.verdict)
