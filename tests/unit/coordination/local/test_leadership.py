"""Leadership in single-host mode (scheduler_proc/coordination/local/leadership.py): holding the host
lock is leading; the term has no fencing token and ends with the lock."""

from __future__ import annotations

from pathlib import Path

from scheduler_proc.coordination.local.hostlock import HostLock
from scheduler_proc.coordination.local.leadership import HostLeadership


def test_leading_is_holding_the_host_lock_and_the_term_ends_with_it(tmp_path: Path) -> None:
    lock = HostLock(tmp_path / "x.lock", "web-1")
    leadership = HostLeadership(lock)
    assert not leadership.leading and leadership.current_term() is None
    assert lock.try_acquire()
    leadership.start()
    leadership.tick()
    term = leadership.current_term()
    assert leadership.leading and term is not None and term.fencing_token is None and term.is_current()
    assert leadership.status() == {}
    leadership.release()
    assert leadership.leading, "the runner releases the lock itself"
    lock.release()
    assert not leadership.leading and not term.is_current()
