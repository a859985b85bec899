"""What the web workers and the CLI read (scheduler_proc/web/ops.py): the host lock's holder, the
status file it publishes and the ledger, all real files written by the test (no runner runs)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support import job_row, leader_status

from scheduler_proc.coordination.local.hostlock import HostLock
from scheduler_proc.coordination.local.ledger import LocalLedger
from scheduler_proc.coordination.records import Run
from scheduler_proc.coordination.term import Term
from scheduler_proc.errors import NoScheduler, UnknownJob
from scheduler_proc.formats.status import JobRow, StatusDocument
from scheduler_proc.identity import AppIdentity
from scheduler_proc.settings import Settings
from scheduler_proc.status import write_status
from scheduler_proc.web.ops import Operations

MASTER = 4242
AT = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def _settings(tmp_path: Path) -> Settings:
    (tmp_path / "lock").mkdir(mode=0o700)
    return Settings.from_env(
        {
            "SCHEDULER_LOCK_DIR": str(tmp_path / "lock"),
            "SCHEDULER_STATE_DIR": str(tmp_path / "state"),
            "SCHEDULER_NODE_ID": "web-1",
            "SCHEDULER_JOBS": "shop.jobs:jobs",
        }
    )


def _leader_document() -> StatusDocument:
    row: JobRow = {**job_row("t", "every 1s"), "last_run_at": AT.isoformat(), "last_outcome": "success"}
    return leader_status([row], node="web-1", master_pid=MASTER)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return _settings(tmp_path)


@pytest.fixture
def held(settings: Settings) -> Iterator[HostLock]:
    """This app's scheduler holds the host lock and has published its status; one run is in the ledger."""
    lock = HostLock(settings.lock_path, "web-1", master_pid=MASTER, app=AppIdentity("shop.jobs:jobs", "/srv/shop"))
    assert lock.try_acquire()
    write_status(settings.status_path(MASTER), _leader_document())
    settings.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    ledger = LocalLedger(settings.ledger_path, retention=3600)
    ledger.claim("t", AT, Term(None, lambda: True), "web-1", "r1")
    ledger.finish(Run("t", "r1", AT, "web-1", None, "schedule", AT.timestamp(), AT.timestamp() + 1, "success", None))
    ledger.close()
    yield lock
    lock.release()


def test_no_holder_means_stopped_and_not_ready(settings: Settings) -> None:
    ops = Operations(settings)
    status = ops.status()
    assert (status["role"], status["jobs"], status["pid"], status["mode"]) == ("stopped", [], None, "single-host")
    assert ops.ready() == (False, "no scheduler of this app runs on this host (role stopped)")
    with pytest.raises(NoScheduler, match="no scheduler runs on node web-1"):
        ops.jobs()


def test_the_holders_status_file_is_what_every_reader_sees(settings: Settings, held: HostLock) -> None:
    ops = Operations(settings)
    status = ops.status()
    assert (status["role"], status["leader_node"], status["tzdata"]) == ("leader", "web-1", "2025b")
    assert status["problems"] == [] and isinstance(status["updated_at"], float)
    assert ops.ready() == (True, "the scheduler on this host is leader")
    assert [row["id"] for row in ops.jobs()] == ["t"]
    job = ops.job("t")
    assert [run["run_id"] for run in job["history"]] == ["r1"] and job["history"][0]["outcome"] == "success"
    assert [run["run_id"] for run in ops.overview().get("recent_runs") or []] == ["r1"]


def test_an_unknown_job_names_the_known_ones(settings: Settings, held: HostLock) -> None:
    with pytest.raises(UnknownJob, match="unknown job 'nope'; known jobs: t"):
        Operations(settings).job("nope")


def test_another_app_holding_the_namespace_blocks_and_is_never_shown_as_ours(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    lock = HostLock(settings.lock_path, "web-1", master_pid=MASTER, app=AppIdentity("other.jobs:jobs", "/srv/other"))
    assert lock.try_acquire()
    try:
        write_status(settings.status_path(MASTER), _leader_document())
        status = Operations(settings).status(directory="/srv/shop")
        assert status["role"] == "blocked" and status["jobs"] == [] and status["pid"] is None
        assert "held by another app" in status["conflict"]
        ok, reason = Operations(settings).ready(directory="/srv/shop")
        assert not ok and reason.startswith("another app holds this app's namespace")
    finally:
        lock.release()


def test_a_disabled_scheduler_is_ready_on_purpose(tmp_path: Path) -> None:
    (tmp_path / "lock").mkdir(mode=0o700)
    settings = Settings.from_env({"SCHEDULER_LOCK_DIR": str(tmp_path / "lock"), "SCHEDULER_ENABLED": "false"})
    assert Operations(settings).ready() == (True, "the scheduler on this host is disabled")
