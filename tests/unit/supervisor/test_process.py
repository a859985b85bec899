"""The supervisor (scheduler_proc/supervisor/process.py) with real runner children and their real
report pipes, on a fake clock: it spawns a runner and takes its verdict, aborts one whose heartbeat
stopped (SIGABRT, then SIGKILL), restarts a dead one after its backoff, and stops them all.

Each test starts real ``python -m scheduler_proc.runner`` processes (about a second each), so it is
marked ``processes``; no gunicorn master is involved (the test process stands in for it)."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import cast

import pytest
from support import JOBSETS, ROOT, FakeClock, wait_for

from scheduler_proc.formats.argv import SupervisorArgs
from scheduler_proc.procutil import SignalFlags
from scheduler_proc.settings import Settings
from scheduler_proc.supervisor.process import RunnerChild, Supervisor

pytestmark = pytest.mark.processes
WATCHDOG = 5.0  # SCHEDULER_WATCHDOG_TIMEOUT; the supervisor allows 3 s more before it aborts


@dataclass
class Flags:
    """The stop and reload events of SignalFlags, without installing signal handlers in pytest."""

    stop: threading.Event = field(default_factory=threading.Event)
    reload: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def supervise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Supervisor, FakeClock]]:
    """A supervisor of ticker:jobs runners whose master is this test's parent; every runner is killed after."""
    for name, value in {
        "PYTHONPATH": os.pathsep.join([str(JOBSETS), str(ROOT)]),
        "SCHEDULER_JOBS": "ticker:jobs",
        "SCHEDULER_NAMESPACE": "supervised",
        "SCHEDULER_LOCK_DIR": str(tmp_path / "run"),
        "SCHEDULER_STATE_DIR": str(tmp_path / "state"),
        "SCHEDULER_WATCHDOG_TIMEOUT": f"{WATCHDOG:g}",
        "FIRE_LOG": str(tmp_path / "fires.jsonl"),
    }.items():
        monkeypatch.setenv(name, value)
    clock = FakeClock()
    args = SupervisorArgs(master_pid=os.getppid(), report_fd=-1, default_grace=5.0)
    supervisor = Supervisor(Settings.from_env(), args, cast(SignalFlags, Flags()), clock)
    started: list[RunnerChild] = []
    spawn = supervisor._spawn

    def spawn_and_remember(candidate: bool) -> tuple[RunnerChild, object]:
        runner, report = spawn(candidate)
        started.append(runner)
        return runner, report

    monkeypatch.setattr(supervisor, "_spawn", spawn_and_remember)
    yield supervisor, clock
    for runner in started:
        if runner.alive():
            runner.popen.kill()
        runner.popen.wait()
        runner.reports.close()


def test_a_runner_that_loads_its_jobs_becomes_the_active_one_and_beats(
    supervise: tuple[Supervisor, FakeClock],
) -> None:
    supervisor, clock = supervise
    report = supervisor.start()
    assert report["event"] == "valid" and supervisor.active is not None and supervisor.active.alive()
    runner = supervisor.active
    beat_at = runner.last_beat
    clock.now += WATCHDOG  # long, but beats keep coming on the pipe

    def beat_seen() -> bool:
        supervisor._watch_heartbeat(runner)
        return runner.last_beat > beat_at

    wait_for(beat_seen, 5, "a heartbeat on the report pipe")
    assert runner.aborted_at is None and runner.alive()


def _stopped(pid: int) -> bool:
    """Whether the process is stopped by a signal (state T in /proc/<pid>/stat)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"


def test_a_runner_whose_heartbeat_stops_is_aborted_then_killed_and_restarted_after_its_backoff(
    supervise: tuple[Supervisor, FakeClock],
) -> None:
    supervisor, clock = supervise
    assert supervisor.start()["event"] == "valid" and supervisor.active is not None
    hung = supervisor.active
    hung.popen.send_signal(signal.SIGSTOP)  # a hang its own watchdog cannot act on
    # A stop takes effect when the process next runs: on a loaded machine a SIGABRT sent before
    # then is taken first (the lower signal number), and it dies of that instead.
    wait_for(partial(_stopped, hung.pid), 5, "the runner to be stopped")
    while hung.reports.poll():  # beats written before the stop
        pass
    clock.now += WATCHDOG + 2.9
    supervisor._watch_active()
    assert hung.aborted_at is None, "not before the watchdog timeout plus 3 s"
    clock.now += 0.2
    supervisor._watch_active()
    assert hung.aborted_at == clock.now and hung.alive(), "SIGABRT sent; a stopped process has not acted on it yet"
    clock.now += 2.1
    supervisor._watch_active()  # still silent 2 s after the abort: SIGKILL
    wait_for(lambda: not hung.alive(), 5, "the hung runner to die of SIGKILL")
    assert hung.popen.returncode == -signal.SIGKILL
    supervisor._watch_active()
    assert supervisor.active is None and supervisor.restart_at == clock.now + 0.5, "the first backoff is 0.5 s"
    supervisor._watch_active()
    assert supervisor.active is None, "no restart before the backoff is over"
    clock.now += 0.5
    supervisor._watch_active()
    assert supervisor.active is not None and supervisor.active.pid != hung.pid and supervisor.active.alive()


def test_a_runner_that_cannot_load_its_jobs_is_refused_with_the_reason(
    supervise: tuple[Supervisor, FakeClock], monkeypatch: pytest.MonkeyPatch
) -> None:
    supervisor, _ = supervise
    monkeypatch.setenv("SCHEDULER_JOBS", "no_such_module:jobs")
    report = supervisor.start()
    assert report["event"] == "invalid" and "no_such_module" in str(report.get("message"))
    assert supervisor.active is None


def test_a_stop_ends_the_active_runner_within_its_grace(supervise: tuple[Supervisor, FakeClock]) -> None:
    supervisor, _ = supervise
    assert supervisor.start()["event"] == "valid" and supervisor.active is not None
    runner = supervisor.active
    supervisor.flags.stop.set()
    assert supervisor.loop() == 0
    assert not runner.alive() and runner.popen.returncode == 0, "it stopped on SIGTERM, not killed"
