"""The local SQLite ledger (scheduler_proc/coordination/local/ledger.py): claims, history limits, pauses, migration."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

from scheduler_proc.coordination.local.ledger import LocalLedger
from scheduler_proc.coordination.records import ClaimResult, HistoryLimits, Run
from scheduler_proc.coordination.term import Term
from scheduler_proc.formats.vocabulary import RunOutcome

SINGLE = Term(None, lambda: True)


def _run(job: str, at: datetime, run_id: str, outcome: RunOutcome = "success") -> Run:
    return Run(
        job_id=job,
        run_id=run_id,
        scheduled_at=at,
        node="n1",
        term=None,
        origin="schedule",
        started_at=at.timestamp(),
        finished_at=at.timestamp() + 0.5,
        outcome=outcome,
        error=None,
    )


def test_ledger_claims_each_fire_once_and_remembers_outcomes(tmp_path: Path) -> None:
    ledger = LocalLedger(tmp_path / "l.sqlite3", retention=3600, history=HistoryLimits(succeeded=2, other=3))
    at = datetime(2026, 1, 1, 0, 0, 1, 500, tzinfo=UTC)
    assert ledger.claim("j", at, SINGLE, "n1", "r1") is ClaimResult.CLAIMED
    assert ledger.claim("j", at, SINGLE, "n2", "r2") is ClaimResult.DUPLICATE
    ledger.finish(_run("j", at, "r1"))
    assert ledger.last_claimed("j") == at and ledger.last_claimed("other") is None
    assert ledger.last_runs()["j"].outcome == "success"
    assert stat.S_IMODE((tmp_path / "l.sqlite3").stat().st_mode) == 0o600
    for second in range(2, 7):
        ledger.finish(_run("j", at + timedelta(seconds=second), f"r{second}", "error"))
    history = ledger.history("j", 10)
    assert [run.run_id for run in history] == ["r6", "r5", "r4", "r1"], "failures bounded apart, newest first"
    assert history[0].duration == 0.5 and history[0].outcome == "error"
    for second in range(7, 12):  # many successes push out older successes, never the failures
        ledger.finish(_run("j", at + timedelta(seconds=second), f"r{second}"))
    assert [run.run_id for run in ledger.history("j", 10)] == ["r11", "r10", "r6", "r5", "r4"]
    assert [run.run_id for run in ledger.history("j", 3)] == ["r11", "r10", "r6"]
    ledger.set_paused("j", True)
    assert ledger.paused() == {"j"}
    ledger.set_paused("j", False)
    assert ledger.paused() == set()
    ledger.close()


def test_a_ledger_from_the_first_schema_is_migrated_and_keeps_its_claims(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE fires (job_id TEXT NOT NULL, scheduled_us INTEGER NOT NULL, run_id TEXT NOT NULL, "
        "node TEXT NOT NULL, claimed_at REAL NOT NULL, finished_at REAL, outcome TEXT NOT NULL DEFAULT 'running', "
        "error TEXT, PRIMARY KEY (job_id, scheduled_us));"
        "INSERT INTO fires VALUES ('j', 1767225600000000, 'r0', 'n', 1767225600.0, NULL, 'success', NULL);"
    )
    old.commit()
    old.close()
    ledger = LocalLedger(path, retention=10**9)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert ledger.last_claimed("j") == at
    assert ledger.claim("j", at, SINGLE, "n", "r1") is ClaimResult.DUPLICATE
    assert ledger.claim("j", at + timedelta(seconds=1), SINGLE, "n", "r2") is ClaimResult.CLAIMED
