"""The runner process (scheduler_proc/runner/process.py) through its interface to the supervisor:
``python -m scheduler_proc.runner`` with a real report pipe. Its verdict on the jobs module, and its
shutdown: on SIGTERM no new fires, running jobs finish within the stop grace (else they are recorded
as abandoned), then the host lock and the status files go.

Each test starts one real runner (about a second), so it is marked ``processes``; no gunicorn
master or supervisor is involved (the test process stands in for both)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import JOBSETS, ROOT, wait_for

from scheduler_proc.coordination.local.hostlock import read_holder
from scheduler_proc.coordination.local.ledger import LocalLedger
from scheduler_proc.procutil import ReportReader, spawn_reporting_child, wait_report
from scheduler_proc.settings import Settings

pytestmark = pytest.mark.processes
MASTER = os.getppid()  # the runner names its status files after its master; nothing checks it lives


class RunnerUnderTest:
    """One real runner of ``jobs`` and the files it writes."""

    def __init__(self, tmp_path: Path, jobs: str, **env: str) -> None:
        self.fires = tmp_path / "fires.jsonl"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SCHEDULER_")},
            "PYTHONPATH": os.pathsep.join([str(JOBSETS), str(ROOT)]),
            "SCHEDULER_JOBS": jobs,
            "SCHEDULER_NAMESPACE": "runner-test",
            "SCHEDULER_LOCK_DIR": str(tmp_path / "run"),
            "SCHEDULER_STATE_DIR": str(tmp_path / "state"),
            "FIRE_LOG": str(self.fires),
            **env,
        }
        self.settings = Settings.from_env(self.env)
        args = ["--parent-pid", str(os.getpid()), "--master-pid", str(MASTER), "--default-grace", "10"]
        self.popen: subprocess.Popen[bytes]
        self.reports: ReportReader
        self.popen, self.reports = spawn_reporting_child("scheduler_proc.runner", args, env=self.env)

    def events(self) -> list[dict[str, str]]:
        if not self.fires.exists():
            return []
        return [json.loads(line) for line in self.fires.read_text().splitlines()]

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait()
        self.reports.close()


@pytest.fixture
def runners(tmp_path: Path) -> Iterator[list[RunnerUnderTest]]:
    made: list[RunnerUnderTest] = []
    yield made
    for runner in made:
        runner.stop()


def _leading_with_a_slow_fire(tmp_path: Path, made: list[RunnerUnderTest], **env: str) -> RunnerUnderTest:
    runner = RunnerUnderTest(tmp_path, "slow:jobs", **env)
    made.append(runner)
    report = wait_report(runner.reports, 30)
    assert report is not None and report["event"] == "valid", report
    wait_for(lambda: any(e["event"] == "start" for e in runner.events()), 15, "the slow job to start")
    holder = read_holder(runner.settings.lock_path)
    assert holder is not None and holder.pid == runner.popen.pid
    assert runner.settings.status_path(MASTER).exists()
    return runner


def test_a_stop_lets_the_running_job_finish_then_releases_everything(
    tmp_path: Path, runners: list[RunnerUnderTest]
) -> None:
    runner = _leading_with_a_slow_fire(tmp_path, runners, SLOW_SECONDS="1.5")
    runner.popen.send_signal(signal.SIGTERM)
    assert runner.popen.wait(timeout=15) == 0
    events = runner.events()
    assert [e["event"] for e in events] == ["start", "end"], "the running job ended; no new fire started"
    assert read_holder(runner.settings.lock_path) is None
    assert not runner.settings.status_path(MASTER).exists() and not runner.settings.metrics_path(MASTER).exists()
    ledger = LocalLedger(runner.settings.ledger_path, retention=3600)
    [run] = ledger.history("slow", 10)
    assert run.outcome == "success" and run.scheduled_at.isoformat() == events[0]["scheduled_at"]
    ledger.close()


def test_a_job_still_running_when_the_grace_ends_is_recorded_as_abandoned(
    tmp_path: Path, runners: list[RunnerUnderTest]
) -> None:
    runner = _leading_with_a_slow_fire(tmp_path, runners, SLOW_SECONDS="60", SCHEDULER_STOP_GRACE="1")
    runner.popen.send_signal(signal.SIGTERM)
    assert runner.popen.wait(timeout=15) == 1, "exit status 1: jobs were abandoned"
    assert [e["event"] for e in runner.events()] == ["start"]
    ledger = LocalLedger(runner.settings.ledger_path, retention=3600)
    [run] = ledger.history("slow", 10)
    assert (run.outcome, run.error) == ("abandoned", "the scheduler stopped before the job ended")
    ledger.close()
    assert read_holder(runner.settings.lock_path) is None


def test_a_jobs_module_that_cannot_load_is_reported_invalid_and_the_runner_exits_2(
    tmp_path: Path, runners: list[RunnerUnderTest]
) -> None:
    runner = RunnerUnderTest(tmp_path, "no_such_module:jobs")
    runners.append(runner)
    report = wait_report(runner.reports, 30)
    assert report is not None and report["event"] == "invalid" and "no_such_module" in str(report.get("message"))
    assert runner.popen.wait(timeout=10) == 2
