"""HostLockStandby: takes a free host lock once the web side is ready, else says once who holds it."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler_proc.coordination.local.hostlock import HostLock
from scheduler_proc.identity import AppIdentity
from scheduler_proc.runner.metrics import Metrics
from scheduler_proc.runner.publisher import StatusPublisher
from scheduler_proc.runner.standby import HostLockStandby
from scheduler_proc.settings import Settings

from .runner_support import single_host_settings, two_jobs


def _standby(settings: Settings, lock: HostLock) -> HostLockStandby:
    jobs = two_jobs()
    publisher = StatusPublisher(settings, jobs, 0, Metrics("n"))
    return HostLockStandby(settings, lock, AppIdentity.here(settings.jobs_ref), 0, len(jobs), publisher)


def test_a_free_lock_is_taken(tmp_path: Path) -> None:
    settings = single_host_settings(tmp_path)
    lock = HostLock(settings.lock_path, "n", 0)
    _standby(settings, lock).try_take()
    assert lock.held
    lock.release()


def test_a_held_lock_is_waited_for_and_its_holder_named_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = single_host_settings(tmp_path)
    holder, lock = HostLock(settings.lock_path, "other", 0), HostLock(settings.lock_path, "n", 0)
    assert holder.try_acquire()
    standby = _standby(settings, lock)
    with caplog.at_level("INFO", logger="scheduler.runner"):
        standby.try_take()
        standby.try_take()
    assert not lock.held
    assert len([message for message in caplog.messages if "waits as standby" in message]) == 1
    holder.release()
    standby.try_take()
    assert lock.held
    lock.release()


def test_nothing_is_taken_before_the_web_side_answers(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ready = tmp_path / "ready"
    settings = single_host_settings(tmp_path, SCHEDULER_READY_FILE=str(ready))
    lock = HostLock(settings.lock_path, "n", 0)
    standby = _standby(settings, lock)
    with caplog.at_level("INFO", logger="scheduler.runner"):
        standby.try_take()
    assert not lock.held and any("waiting for the web side" in message for message in caplog.messages)
    ready.touch()
    standby.try_take()
    assert lock.held
    lock.release()
