"""The dispatcher (scheduler_proc/runner/dispatch.py): a fire runs only when leading, once, within its grace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from support import recording_jobs

from scheduler_proc.coordination.local.ledger import LocalLedger
from scheduler_proc.coordination.term import Term
from scheduler_proc.runner.dispatch import Dispatcher


def test_dispatcher_refuses_when_not_leading_and_when_already_claimed(tmp_path: Path) -> None:
    jobs, ran = recording_jobs()
    ledger = LocalLedger(tmp_path / "l.sqlite3", retention=3600)
    leading = {"yes": False}
    dispatcher = Dispatcher(
        {s.id: s for s in jobs}, ledger, "n", 30, lambda: Term(None, lambda: True) if leading["yes"] else None
    )
    now = datetime.now(UTC)
    dispatcher.run("t", now)
    assert ran == []
    leading["yes"] = True
    dispatcher.run("t", now)
    dispatcher.run("t", now)
    assert ran == [now]
    dispatcher.run("t", now - timedelta(seconds=120))  # beyond the misfire grace of 30 s
    assert ran == [now] and dispatcher.wait_idle(0)
