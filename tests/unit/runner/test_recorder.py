"""The run recorder (scheduler_proc/runner/recorder.py): nothing handed over is lost by a flush."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from scheduler_proc.coordination.local.ledger import LocalLedger
from scheduler_proc.coordination.records import Run
from scheduler_proc.coordination.term import Term

SINGLE = Term(None, lambda: True)


def test_recorder_writes_everything_handed_over_before_flush_returns(tmp_path: Path) -> None:
    from scheduler_proc.runner.recorder import Recorder

    ledger = LocalLedger(tmp_path / "l.sqlite3", retention=3600)
    seen: list[str] = []
    recorder = Recorder(ledger, lambda runs: seen.extend(run.run_id for run in runs))
    at = datetime(2026, 1, 1, tzinfo=UTC)
    for index in range(50):
        ledger.claim("j", at + timedelta(seconds=index), SINGLE, "n", f"r{index}")
        recorder.record(
            Run("j", f"r{index}", at + timedelta(seconds=index), "n", None, "schedule", 1, 2, "success", None)
        )
    assert recorder.flush(10)
    assert len(ledger.history("j", 100)) == 50 and seen == [f"r{index}" for index in range(50)]


def test_a_closed_recorder_writes_what_it_was_handed_then_its_thread_ends(tmp_path: Path) -> None:
    import threading

    from support import wait_for

    from scheduler_proc.runner.recorder import Recorder

    ledger = LocalLedger(tmp_path / "l.sqlite3", retention=3600)
    before = set(threading.enumerate())
    recorder = Recorder(ledger)
    (writer,) = set(threading.enumerate()) - before
    at = datetime(2026, 1, 1, tzinfo=UTC)
    ledger.claim("j", at, SINGLE, "n", "r0")
    recorder.record(Run("j", "r0", at, "n", None, "schedule", 1, 2, "success", None))
    recorder.close()
    wait_for(lambda: not writer.is_alive(), 5, "the recorder's thread to end")
    assert [run.run_id for run in ledger.history("j", 10)] == ["r0"]
