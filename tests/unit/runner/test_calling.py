"""Calling a job within its timeout (scheduler_proc/runner/calling.py): an async job is cancelled, a
plain one without a timeout runs in the calling thread, and one with a timeout runs in a process of
its own (scheduler_proc/job_process.py; those cases start one and are marked ``processes``). The
stubborn job killed after KILL_AFTER, in a real runner: tests/integration/test_timeouts.py."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support import JOBSETS

from scheduler_proc import Jobs, RunContext
from scheduler_proc.jobs import JobSpec
from scheduler_proc.loader import load_jobs
from scheduler_proc.runner.calling import JobFailed, TimedOut, call_job


def _ctx(job_id: str) -> RunContext:
    return RunContext(job_id, datetime.now(UTC), "web-1", None, "run-1")


def _spec(jobs: Jobs, job_id: str) -> JobSpec:
    spec = jobs.get(job_id)
    assert spec is not None
    return spec


def test_an_async_job_past_its_timeout_is_cancelled() -> None:
    jobs = Jobs()

    @jobs.every(seconds=5, id="slow", timeout=0.2)
    async def slow() -> None:
        await asyncio.sleep(30)

    assert call_job(_spec(jobs, "slow"), _ctx("slow")) == TimedOut("ran longer than its timeout of 0.2s; cancelled")


def test_an_async_jobs_own_timeout_error_is_its_error_not_a_timeout() -> None:
    jobs = Jobs()

    @jobs.every(seconds=5, id="own", timeout=30)
    async def own() -> None:
        raise TimeoutError("the partner API timed out")

    with pytest.raises(TimeoutError, match="the partner API"):
        call_job(_spec(jobs, "own"), _ctx("own"))


def test_a_plain_job_without_a_timeout_runs_in_the_calling_thread() -> None:
    jobs, threads = Jobs(), []

    @jobs.every(seconds=5, id="plain")
    def plain(ctx: RunContext) -> None:
        threads.append((threading.get_ident(), ctx.run_id))

    assert call_job(_spec(jobs, "plain"), _ctx("plain")) is None
    assert threads == [(threading.get_ident(), "run-1")]


@pytest.mark.processes
@pytest.mark.parametrize(("job_id", "failure"), [("quick", None), ("failing", "ValueError: no such customer 42")])
def test_a_plain_job_with_a_timeout_runs_in_a_process_of_its_own(
    job_id: str, failure: str | None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.syspath_prepend(str(JOBSETS))  # the child imports with this process's sys.path
    monkeypatch.setenv("SCHEDULER_JOBS", "timeouts:jobs")
    monkeypatch.setenv("FIRE_LOG", str(tmp_path / "fires.jsonl"))
    spec = _spec(load_jobs("timeouts:jobs"), job_id)
    if failure is None:
        assert call_job(spec, _ctx(job_id)) is None
        assert '"current": true' in (tmp_path / "fires.jsonl").read_text(), "is_current() while this process lives"
    else:
        with pytest.raises(JobFailed, match=failure):
            call_job(spec, _ctx(job_id))
