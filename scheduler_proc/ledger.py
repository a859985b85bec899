"""The fire ledger: claims each (job id, scheduled time) once, and remembers outcomes.

``LocalLedger`` keeps it in SQLite under the state directory for single-host mode;
the Redis ledger of cluster mode offers the same methods.
"""

from __future__ import annotations

import enum
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from scheduler_proc.fire import Term


class ClaimResult(enum.Enum):
    """What the ledger said about a fire."""

    CLAIMED = "claimed"  # this node runs it
    DUPLICATE = "duplicate"  # someone already claimed it: never run it again
    FENCED = "fenced"  # our leadership term is no longer current
    UNREPLICATED = "unreplicated"  # claimed, but too few replicas acknowledged it: not run
    UNAVAILABLE = "unavailable"  # the ledger could not be reached: not run; a successor may run it


@dataclass(frozen=True)
class RunRecord:
    """The last known run of a job."""

    job_id: str
    scheduled_at: datetime
    node: str
    outcome: str
    finished_at: float | None


class Ledger(Protocol):
    """What the fire path needs from a ledger, local or Redis."""

    def claim(self, job_id: str, scheduled_at: datetime, term: Term, node: str, run_id: str) -> ClaimResult: ...

    def finish(self, job_id: str, scheduled_at: datetime, outcome: str, error: str | None) -> None: ...

    def last_claimed(self, job_id: str) -> datetime | None: ...

    def last_runs(self) -> dict[str, RunRecord]: ...

    def close(self) -> None: ...


def to_micros(moment: datetime) -> int:
    """A timezone-aware datetime as whole microseconds since the epoch (the claim key)."""
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / 1_000_000, tz=UTC)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS fires (
    job_id       TEXT    NOT NULL,
    scheduled_us INTEGER NOT NULL,
    run_id       TEXT    NOT NULL,
    node         TEXT    NOT NULL,
    claimed_at   REAL    NOT NULL,
    finished_at  REAL,
    outcome      TEXT    NOT NULL DEFAULT 'running',
    error        TEXT,
    PRIMARY KEY (job_id, scheduled_us)
);
CREATE INDEX IF NOT EXISTS fires_claimed_at ON fires (claimed_at);
"""


class LocalLedger:
    """SQLite ledger; only the holder of the host lock writes to it."""

    def __init__(self, path: Path, retention: float) -> None:
        self._retention = retention
        self._lock = threading.Lock()
        self._last_prune = 0.0
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        os.close(fd)  # created 0600 before SQLite opens it; WAL files copy its mode
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def claim(self, job_id: str, scheduled_at: datetime, term: Term, node: str, run_id: str) -> ClaimResult:
        now = time.time()
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO fires (job_id, scheduled_us, run_id, node, claimed_at) VALUES (?, ?, ?, ?, ?)",
                (job_id, to_micros(scheduled_at), run_id, node, now),
            )
            if now - self._last_prune > 60:
                self._last_prune = now
                self._db.execute("DELETE FROM fires WHERE claimed_at < ?", (now - self._retention,))
        return ClaimResult.CLAIMED if cursor.rowcount == 1 else ClaimResult.DUPLICATE

    def finish(self, job_id: str, scheduled_at: datetime, outcome: str, error: str | None) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE fires SET outcome = ?, error = ?, finished_at = ? WHERE job_id = ? AND scheduled_us = ?",
                (outcome, error, time.time(), job_id, to_micros(scheduled_at)),
            )

    def last_claimed(self, job_id: str) -> datetime | None:
        with self._lock:
            row = self._db.execute("SELECT MAX(scheduled_us) FROM fires WHERE job_id = ?", (job_id,)).fetchone()
        return None if row is None or row[0] is None else from_micros(int(row[0]))

    def last_runs(self) -> dict[str, RunRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT f.job_id, f.scheduled_us, f.node, f.outcome, f.finished_at FROM fires f "
                "JOIN (SELECT job_id, MAX(scheduled_us) AS s FROM fires GROUP BY job_id) m "
                "ON f.job_id = m.job_id AND f.scheduled_us = m.s"
            ).fetchall()
        return {row[0]: RunRecord(row[0], from_micros(int(row[1])), row[2], row[3], row[4]) for row in rows}

    def close(self) -> None:
        with self._lock:
            self._db.close()
