"""The only module that touches APScheduler 3's private attributes; each access says why.

Checked against APScheduler 3.11.3 (requirements.lock). APScheduler 3 has no public hook at
the end of a wake-up, no lock-free read of its job store, and its executor interface is its
protected methods; an upgrade that changes any of them breaks here, and only here
(tests/unit/runner/test_apscheduler_adapter.py pins what the kit relies on).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from apscheduler.executors.base import BaseExecutor
from apscheduler.job import Job
from apscheduler.schedulers.background import BackgroundScheduler

#: The APScheduler release these accesses were read against.
CHECKED_AGAINST = "3.11.3"


class BatchingScheduler(BackgroundScheduler):  # type: ignore[misc]  # APScheduler 3 ships no types
    """Calls ``after_pass`` after each wake-up, so the executor claims everything that was due in one go."""

    def __init__(self, after_pass: Callable[[], None], **options: Any) -> None:
        super().__init__(**options)
        self._after_pass = after_pass

    def _process_jobs(self) -> float | None:
        # Private: BaseScheduler._process_jobs is the wake-up itself (it submits every due job,
        # then returns the wait until the next one); no event marks the end of a whole pass.
        try:
            wait: float | None = super()._process_jobs()
        finally:
            self._after_pass()  # beats the watchdog: a pass got through
        return wait


def next_due_time(scheduler: BackgroundScheduler) -> datetime | None:
    """The earliest next run time of any job, read without the scheduler's lock (None when none)."""
    # Private: _jobstores. The public get_jobs() takes the job store lock, which a hung dispatch
    # loop may hold; status must not wait on it (the watchdog, on the same thread, has to see the
    # hang). The memory store keeps its jobs sorted, so its first is the next due.
    try:
        upcoming: datetime | None = scheduler._jobstores["default"].get_next_run_time()
    except (IndexError, KeyError):
        return None
    return upcoming


def next_run_times(scheduler: BackgroundScheduler) -> dict[str, datetime | None]:
    """Each job's next run time, read without the scheduler's lock (see :func:`next_due_time`)."""
    store = scheduler._jobstores.get("default")  # private: as in next_due_time
    return {job.id: job.next_run_time for job in store.get_all_jobs()} if store else {}


class SubmissionExecutor(BaseExecutor):  # type: ignore[misc]  # APScheduler 3 ships no types
    """An APScheduler executor whose protected interface is spelled with public names.

    Subclasses implement :meth:`accept` (APScheduler hands over due run times) and call
    :meth:`job_ended` or :meth:`job_failed` once per accepted submission, which frees its
    place among APScheduler's own ``max_instances`` count.
    """

    def accept(self, job_id: str, run_times: list[datetime]) -> None:
        """Take the due run times of one job (called under the executor's lock: keep it quick)."""
        raise NotImplementedError

    def job_ended(self, job_id: str) -> None:
        """One accepted submission of the job is done."""
        # Protected: _run_job_success is how an executor tells BaseExecutor a submission ended.
        self._run_job_success(job_id, [])

    def job_failed(self, job_id: str, exc: BaseException) -> None:
        """One accepted submission of the job failed unexpectedly (APScheduler logs it)."""
        # Protected: _run_job_error, as job_ended, and it logs the traceback.
        self._run_job_error(job_id, exc, exc.__traceback__)

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        # Protected and abstract: BaseExecutor.submit_job calls it under its lock.
        self.accept(job.id, list(run_times))
