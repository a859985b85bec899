"""A job's own process (scheduler_proc/job_process.py), started as the runner starts it
(scheduler_proc.runner.calling.call_job with a plain job that has a timeout): it imports the jobs
module as the runner did, runs the job with the fire's context, and reports a failure in one line.
Each case starts a real interpreter, so the file is marked ``processes``. Timeouts, SIGTERM and
SIGKILL in a real runner: tests/integration/test_timeouts.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support import JOBSETS

from scheduler_proc import RunContext
from scheduler_proc.loader import load_jobs
from scheduler_proc.runner.calling import JobFailed, call_job

pytestmark = pytest.mark.processes
AT = datetime(2026, 12, 4, 9, 0, 0, 200000, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _jobs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.syspath_prepend(str(JOBSETS))  # the child gets this process's sys.path
    monkeypatch.setenv("SCHEDULER_JOBS", "timeouts:jobs")
    monkeypatch.setenv("FIRE_LOG", str(tmp_path / "fires.jsonl"))


def test_the_job_runs_with_the_fires_context(tmp_path: Path) -> None:
    spec = load_jobs("timeouts:jobs").get("quick")
    assert spec is not None
    assert call_job(spec, RunContext("quick", AT, "web-1", 42, "run-7")) is None
    [line] = [json.loads(text) for text in (tmp_path / "fires.jsonl").read_text().splitlines()]
    assert (line["job"], line["scheduled_at"], line["node"], line["term"]) == ("quick", AT.isoformat(), "web-1", 42)
    assert line["current"] is True


def test_a_job_the_module_does_not_define_is_reported_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = load_jobs("timeouts:jobs").get("quick")
    assert spec is not None
    monkeypatch.setenv("SCHEDULER_JOBS", "ticker:jobs")  # the child loads another module than the runner did
    with pytest.raises(JobFailed, match=r"^job 'quick' is not in SCHEDULER_JOBS='ticker:jobs'$"):
        call_job(spec, RunContext("quick", AT, "web-1", None, "run-8"))
