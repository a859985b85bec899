"""The host lock (scheduler_proc/coordination/local/hostlock.py): exclusive, private, readable, and it
notices a replaced file."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
from support import wait_for

from scheduler_proc.coordination.local.hostlock import HostLock, read_holder
from scheduler_proc.errors import HostLockError


def test_host_lock_is_exclusive_private_and_readable(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    first, second = HostLock(path, "web-1", master_pid=42), HostLock(path, "web-2")
    assert read_holder(path) is None
    assert first.try_acquire() and not second.try_acquire()
    holder = read_holder(path)
    assert holder is not None and (holder.pid, holder.node, holder.master_pid) == (os.getpid(), "web-1", 42)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first.release()
    assert read_holder(path) is None and second.try_acquire()
    second.release()


def test_the_holder_record_is_never_missing_while_the_holder_rewrites_it(tmp_path: Path) -> None:
    """A lease change rewrites the record; a reader meanwhile must still find the holder, not 'nobody'.

    A thread's own open file description conflicts with the holder's flock as another process's would.
    """
    path = tmp_path / "x.lock"
    lock = HostLock(path, "web-1", master_pid=42)
    assert lock.try_acquire()
    done = threading.Event()
    reads: list[bool] = []

    def read_until_done() -> None:
        while not done.is_set():
            reads.append(read_holder(path) is not None)

    reader = threading.Thread(target=read_until_done)
    reader.start()
    try:
        for i in range(3000):
            lock.record_lease(f"{i}:web-1-with-a-longer-name" if i % 2 else None)
    finally:
        done.set()
        reader.join()
        lock.release()
    assert len(reads) > 100 and all(reads), f"{reads.count(False)} of {len(reads)} reads found no holder"


def test_host_lock_notices_its_file_was_replaced(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    lock = HostLock(path, "web-1")
    assert lock.try_acquire() and lock.still_valid()
    path.unlink()
    # A passed check stands a few milliseconds (a burst of fires each checks it): noticed right after.
    wait_for(lambda: not lock.still_valid(), 1, "the holder to notice its file is gone", interval=0.005)
    other = HostLock(path, "web-2")
    assert other.try_acquire()  # a new file: why the old holder must step down
    lock.release()
    other.release()


def test_a_released_host_lock_is_invalid_at_once_even_just_after_a_check(tmp_path: Path) -> None:
    lock = HostLock(tmp_path / "x.lock", "web-1")
    assert lock.try_acquire() and lock.still_valid()
    lock.release()
    assert not lock.still_valid()


def test_host_lock_refuses_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "target").write_text("")
    (tmp_path / "x.lock").symlink_to(tmp_path / "target")
    with pytest.raises(HostLockError, match="cannot be opened"):
        HostLock(tmp_path / "x.lock", "n").try_acquire()
