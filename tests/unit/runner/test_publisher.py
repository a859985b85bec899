"""What the runner publishes (scheduler_proc/runner/publisher.py): the status and metrics files, written
at once when the role changes and else at most about once a second, then withdrawn at exit. A real
single-host backend (host lock, SQLite ledger, file bus) in a directory of the test."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import recording_jobs, wait_for

from scheduler_proc.coordination.backend import Backend, open_backend
from scheduler_proc.coordination.local.hostlock import HostLock
from scheduler_proc.runner.metrics import Metrics
from scheduler_proc.runner.publisher import StatusPublisher
from scheduler_proc.settings import Settings

MASTER = 4244


@pytest.fixture
def publishing(tmp_path: Path) -> Iterator[tuple[StatusPublisher, Backend]]:
    (tmp_path / "lock").mkdir(mode=0o700)
    settings = Settings.from_env(
        {"SCHEDULER_LOCK_DIR": str(tmp_path / "lock"), "SCHEDULER_STATE_DIR": str(tmp_path / "state")}
    )
    lock = HostLock(settings.lock_path, "n", master_pid=MASTER)
    assert lock.try_acquire()
    metrics = Metrics("n")
    backend = open_backend(settings, lock, metrics)
    jobs, _ = recording_jobs()
    yield StatusPublisher(settings, jobs, MASTER, metrics), backend
    backend.ledger.close()
    lock.release()


def _written(publisher: StatusPublisher) -> dict[str, object]:
    document: dict[str, object] = json.loads(publisher.status_path.read_bytes())
    return document


def test_the_first_publish_writes_both_files(publishing: tuple[StatusPublisher, Backend]) -> None:
    publisher, backend = publishing
    publisher.publish(backend, None, leading=False, lock_held=True)
    status = _written(publisher)
    assert (status["role"], status["master_pid"], status["mode"]) == ("standby", MASTER, "single-host")
    assert [row["id"] for row in status["jobs"]] == ["t"]  # type: ignore[attr-defined]
    assert b"scheduler_leader" in publisher.metrics_path.read_bytes()


def test_a_role_change_is_published_at_once_else_once_a_second(publishing: tuple[StatusPublisher, Backend]) -> None:
    publisher, backend = publishing
    publisher.publish(backend, None, leading=False, lock_held=True)
    first = _written(publisher)["updated_at"]
    publisher.publish(backend, None, leading=False, lock_held=True)
    assert _written(publisher)["updated_at"] == first, "the same role a moment later: not written again"
    publisher.publish(backend, None, leading=True, lock_held=True)
    changed = _written(publisher)
    assert changed["role"] == "leader", "a new role does not wait for the cadence"
    started = time.monotonic()

    def written_again() -> bool:
        publisher.publish(backend, None, leading=True, lock_held=True)
        return _written(publisher)["updated_at"] != changed["updated_at"]

    wait_for(written_again, 5, "the next regular publish", interval=0.01)
    assert time.monotonic() - started >= 0.9, "about once a second, not at every call"


def test_withdraw_removes_both_files(publishing: tuple[StatusPublisher, Backend]) -> None:
    publisher, backend = publishing
    publisher.publish(backend, None, leading=True, lock_held=True)
    publisher.withdraw()
    assert not publisher.status_path.exists() and not publisher.metrics_path.exists()
    publisher.withdraw()  # twice (a stop racing an exit) is no error
