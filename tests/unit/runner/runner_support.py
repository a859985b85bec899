"""Helpers of the runner's unit tests: a term that stays current, a small job registry, the fire path's parts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scheduler_proc import Jobs
from scheduler_proc.coordination.interfaces import Ledger
from scheduler_proc.coordination.term import Term
from scheduler_proc.jobs import JobSpec
from scheduler_proc.runner.claims import Claimer
from scheduler_proc.runner.execution import FireExecution
from scheduler_proc.runner.flights import FlightTable
from scheduler_proc.runner.instances import Instances
from scheduler_proc.runner.metrics import Metrics
from scheduler_proc.runner.misfire import MisfireCheck
from scheduler_proc.runner.records import FireRecords
from scheduler_proc.runner.refusals import ClaimRefusals
from scheduler_proc.runner.waiting import WaitingFires
from scheduler_proc.securedir import ensure_private_dir
from scheduler_proc.settings import Settings

#: A term that stays current: single host, the host lock held.
CURRENT = Term(None, lambda: True)


def specs_of(jobs: Jobs) -> dict[str, JobSpec]:
    """The registry's specs by id, as the dispatcher takes them."""
    return {spec.id: spec for spec in jobs}


def two_jobs(ran: list[str] | None = None) -> Jobs:
    """Job "t" every second (records its run in ``ran``) and job "c" every minute, coalescing, max 1 instance."""
    jobs = Jobs()

    @jobs.every(seconds=1, id="t")
    def t() -> None:
        if ran is not None:
            ran.append("t")

    @jobs.every(minutes=1, id="c", coalesce=True, max_instances=1)
    def c() -> None: ...

    return jobs


@dataclass
class FirePath:
    """The dispatcher's parts, wired as :class:`~scheduler_proc.runner.dispatch.Dispatcher` wires them."""

    metrics: Metrics
    table: FlightTable
    records: FireRecords
    waiting: WaitingFires
    claimer: Claimer
    execution: FireExecution


def fire_path(jobs: Jobs, ledger: Ledger, term: Callable[[], Term | None] = lambda: CURRENT) -> FirePath:
    """Real parts over a real ledger; ``term`` says whether (and under which term) this node leads."""
    specs, metrics, hooks = specs_of(jobs), Metrics("n"), jobs.hooks
    table = FlightTable(Instances())
    records = FireRecords(list(specs), ledger, "n", metrics, hooks)
    waiting = WaitingFires(specs, "n", metrics)
    refusals = ClaimRefusals("n", metrics, records)
    misfire = MisfireCheck(specs, 30, "n", metrics)
    claimer = Claimer(specs, ledger, "n", term, table, misfire, refusals, waiting, records, lambda: None)
    execution = FireExecution(specs, "n", table, records, metrics, hooks)
    return FirePath(metrics, table, records, waiting, claimer, execution)


def single_host_settings(tmp_path: Path, **more: str) -> Settings:
    """Single-host settings whose lock and state directories are private directories under ``tmp_path``."""
    settings = Settings.from_env(
        {"SCHEDULER_LOCK_DIR": str(tmp_path / "lock"), "SCHEDULER_STATE_DIR": str(tmp_path / "state"), **more}
    )
    ensure_private_dir(settings.lock_dir, "SCHEDULER_LOCK_DIR")
    ensure_private_dir(settings.state_dir, "SCHEDULER_STATE_DIR")
    return settings
