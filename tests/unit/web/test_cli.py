"""The command line (scheduler_proc/web/cli.py) called in this process, against a host lock, a status
file and a ledger written by the test (as tests/unit/web/test_ops.py), and the suite's job modules:
tables and JSON, and the exit status promised for every command (0 ok, 1 failed, 2 bad usage,
settings, jobs module or an unknown job). Against a running host: tests/integration/test_operations.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import JOBSETS, job_row, leader_status

from scheduler_proc.coordination.local.hostlock import HostLock
from scheduler_proc.settings import Settings
from scheduler_proc.status import write_status
from scheduler_proc.web.cli import main

MASTER = 4245


@pytest.fixture(autouse=True)
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "lock").mkdir(mode=0o700)
    for name, value in {
        "SCHEDULER_LOCK_DIR": str(tmp_path / "lock"),
        "SCHEDULER_STATE_DIR": str(tmp_path / "state"),
        "SCHEDULER_NODE_ID": "web-1",
        "SCHEDULER_JOBS": "ticker:jobs",
        "SCHEDULER_NAMESPACE": "cli",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.syspath_prepend(str(JOBSETS))


@pytest.fixture
def leader(tmp_path: Path) -> Iterator[None]:
    settings = Settings.from_env()
    lock = HostLock(settings.lock_path, "web-1", master_pid=MASTER)
    assert lock.try_acquire()
    document = leader_status([job_row("tick", "every 1s")], node="web-1", master_pid=MASTER)
    write_status(settings.status_path(MASTER), document)
    yield
    lock.release()


def test_status_of_a_host_without_a_scheduler(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--json", "status"]) == 0
    assert json.loads(capsys.readouterr().out)["role"] == "stopped"
    assert main(["check"]) == 1
    assert capsys.readouterr().out.startswith("FAIL: ")


def test_status_jobs_and_check_of_a_leader(leader: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["role"] == "leader"
    assert main(["jobs"]) == 0
    assert "tick" in capsys.readouterr().out
    assert main(["check"]) == 0
    assert capsys.readouterr().out.startswith("OK: ")


def test_next_and_validate_read_the_jobs_module(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["next", "tick", "--count", "2", "--after", "2026-12-04T09:00:00+00:00"]) == 0
    assert capsys.readouterr().out.split() == ["2026-12-04T09:00:00+00:00", "2026-12-04T09:00:01+00:00"]
    assert main(["validate", "--quiet"]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("argv", "env", "error"),
    [
        (["next", "nope"], {}, "error: unknown job 'nope' in SCHEDULER_JOBS='ticker:jobs'; known jobs:"),
        (["validate"], {"SCHEDULER_JOBS": "no_such_module:jobs"}, "error: SCHEDULER_JOBS='no_such_module:jobs'"),
        (["status"], {"SCHEDULER_MISFIRE_GRACE": "-1"}, "error: SCHEDULER_MISFIRE_GRACE='-1'"),
    ],
)
def test_errors_exit_2_with_one_line(
    argv: list[str],
    env: dict[str, str],
    error: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith(error)


def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["history", "tick", "--limit", "0"])
    assert stop.value.code == 2 and "'0' is not a whole number from 1 to 1000" in capsys.readouterr().err
