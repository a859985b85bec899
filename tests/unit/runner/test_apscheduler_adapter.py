"""The APScheduler adapter: what the kit relies on of APScheduler 3's private parts still holds."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path

from apscheduler.job import Job
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

import scheduler_proc
from scheduler_proc.runner.apscheduler_adapter import (
    CHECKED_AGAINST,
    BatchingScheduler,
    SubmissionExecutor,
    next_due_time,
    next_run_times,
)


class _Collecting(SubmissionExecutor):
    """Keeps what APScheduler submits and ends each submission at once."""

    def __init__(self) -> None:
        super().__init__()
        self.accepted: list[tuple[str, list[datetime]]] = []

    def accept(self, job_id: str, run_times: list[datetime]) -> None:
        self.accepted.append((job_id, run_times))


def _noop() -> None: ...


def test_the_installed_apscheduler_is_the_one_the_adapter_was_checked_against() -> None:
    assert version("APScheduler") == CHECKED_AGAINST, (
        "APScheduler was upgraded: read runner/apscheduler_adapter.py against the new release, then update "
        "CHECKED_AGAINST"
    )


def test_a_pass_submits_through_accept_then_calls_after_pass() -> None:
    executor = _Collecting()
    passes = threading.Event()
    scheduler = BatchingScheduler(passes.set, timezone=UTC, executors={"default": executor})
    due = datetime.now(UTC) - timedelta(seconds=1)
    scheduler.add_job(_noop, IntervalTrigger(hours=1, start_date=due), id="j", next_run_time=due)
    scheduler.start()
    try:
        assert passes.wait(5)
        assert executor.accepted and executor.accepted[0][0] == "j"
        next_run = next_due_time(scheduler)
        assert next_run is not None and next_run > datetime.now(UTC)
        assert next_run_times(scheduler) == {"j": next_run}
        executor.job_ended("j")  # frees APScheduler's own instance count: the job may be submitted again
        executor.submit_job(scheduler.get_job("j"), [due])
        assert len(executor.accepted) == 2
    finally:
        scheduler.shutdown(wait=False)


def test_reads_of_a_scheduler_without_jobs() -> None:
    scheduler = BatchingScheduler(_noop, timezone=UTC)
    assert next_due_time(scheduler) is None and next_run_times(scheduler) == {}


def _apscheduler_private_names() -> set[str]:
    """Every single-underscore name APScheduler 3's scheduler, executor, job store, job and trigger classes define."""
    classes = (BatchingScheduler, SubmissionExecutor, MemoryJobStore, Job, IntervalTrigger, CronTrigger, BaseTrigger)
    theirs = [klass for cls in classes for klass in cls.__mro__ if klass.__module__.startswith("apscheduler")]
    names = {name for klass in theirs for name in vars(klass)}
    scheduler = BatchingScheduler(_noop, timezone=UTC)  # and the attributes their constructors set
    names |= set(vars(scheduler)) | set(vars(_Collecting()))
    return {name for name in names if name.startswith("_") and not name.startswith("__")}


def test_no_other_module_touches_apscheduler_private_names() -> None:
    """A private name counts when a module overrides it, or reads it as an attribute it does not set itself."""
    private = _apscheduler_private_names()
    package = Path(scheduler_proc.__file__).parent
    offenders = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "apscheduler_adapter.py":
            continue
        text = path.read_text()
        defined = set(re.findall(r"\bdef (_\w+)", text))
        own = set(re.findall(r"\bself\.(_\w+)\s*[:=]", text))
        used = (set(re.findall(r"\.(_[a-z]\w*)\b", text)) - own - defined) & private
        used |= defined & private  # an override of one of APScheduler's private methods
        offenders += [f"{path.relative_to(package)}: {name}" for name in sorted(used)]
    assert offenders == [], "APScheduler's private names belong in runner/apscheduler_adapter.py only"
