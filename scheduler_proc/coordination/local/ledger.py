"""The fire ledger of single-host mode, in SQLite under the state directory: claims each (job id,
scheduled time) once, keeps run history and pauses (``redis.ledger`` is the cluster's)."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from scheduler_proc import clock, problems
from scheduler_proc.coordination.records import (
    DEFAULT_HISTORY,
    ClaimRequest,
    ClaimResult,
    HistoryLimits,
    LiveRun,
    Run,
    RunRecord,
    from_micros,
    parse_history,
    to_micros,
)
from scheduler_proc.coordination.term import Term
from scheduler_proc.errors import LedgerError
from scheduler_proc.formats.history import encode_run
from scheduler_proc.formats.vocabulary import last_outcome

_log = logging.getLogger("scheduler.ledger")


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
    manual       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, scheduled_us)
);
CREATE INDEX IF NOT EXISTS fires_claimed_at ON fires (claimed_at);
CREATE TABLE IF NOT EXISTS runs (
    run_id       TEXT PRIMARY KEY,
    job_id       TEXT NOT NULL,
    scheduled_us INTEGER NOT NULL,
    record       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_job ON runs (job_id, scheduled_us);
CREATE TABLE IF NOT EXISTS paused (
    job_id TEXT PRIMARY KEY,
    since  REAL NOT NULL
);
"""


# Keeps a job's newest successes and, apart, its newest other runs (see HistoryLimits).
_TRIM_HISTORY = """
DELETE FROM runs WHERE job_id = ? AND run_id NOT IN (
    SELECT run_id FROM (SELECT run_id FROM runs WHERE job_id = ? AND json_extract(record, '$.outcome') = 'success'
                        ORDER BY scheduled_us DESC LIMIT ?)
    UNION ALL
    SELECT run_id FROM (SELECT run_id FROM runs WHERE job_id = ?
                        AND json_extract(record, '$.outcome') IS NOT 'success' ORDER BY scheduled_us DESC LIMIT ?)
)
"""


class LocalLedger:
    """SQLite ledger; the holder of the host lock writes, web workers and the CLI read."""

    counts_instances = False

    def __init__(
        self, path: Path, retention: float, history: HistoryLimits = DEFAULT_HISTORY, watched: bool = False
    ) -> None:
        self._path = path
        self._retention = retention
        self._history = history
        self._watched = watched  # the runner's ledger: its trouble turns health red (see scheduler_proc.problems)
        self._lock = threading.Lock()
        self._last_prune = 0.0
        self._db: sqlite3.Connection | None = None
        self._open_at = 0.0
        self._last_error = LedgerError("", "")
        self._inode, self._looked_at = -1, 0.0  # the open file's, and when its header was last read
        self._in_trouble, self._probed_at = False, 0.0  # a trouble of the watched ledger is reported
        self._poisoned: list[sqlite3.Connection] = []  # connections to a corrupt file, kept open (see _failed)
        with contextlib.suppress(LedgerError), self._using():
            pass  # opened now if it can be; else each use says why, and tries again

    def _open(self) -> sqlite3.Connection:
        """Open the file at the path (made 0600 if missing); one that is no SQLite database is not touched."""
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:  # created 0600 before SQLite opens it; WAL files copy its mode
            header, inode = os.read(fd, len(_HEADER)), os.fstat(fd).st_ino
        finally:
            os.close(fd)
        if header not in (b"", _HEADER):
            raise _NotADatabase("file is not a database")
        if inode != self._inode:  # the corrupt file was moved aside: its connections may go now
            for stale in self._poisoned:
                with contextlib.suppress(sqlite3.Error):
                    stale.close()
            self._poisoned.clear()
        db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None, timeout=10)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            # FULL: a claim is on disk when its transaction commits. NORMAL (WAL's usual choice)
            # may roll back the last commits on a power loss, and catch-up would run them again.
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
            _migrate(db)
        except BaseException:
            db.close()
            raise
        self._inode = inode
        return db

    @contextlib.contextmanager
    def _using(self, writes: bool = False) -> Iterator[sqlite3.Connection]:
        """The open database, under the lock; SQLite's and the file system's errors become LedgerError.

        A ledger that could not be opened, or proved corrupt, is opened again at most once a second
        (it recovers once the file is moved aside); a write that succeeds ends a reported trouble.
        """
        with self._lock:
            try:
                if self._db is not None and self._watched:
                    self._look_at_the_file()
                if self._db is None:
                    if time.monotonic() < self._open_at:
                        raise LedgerError(self._last_error.summary, str(self._last_error))
                    self._db = self._open()
                if self._in_trouble and not writes:
                    self._probe(self._db)
                yield self._db
            except (sqlite3.Error, OSError) as exc:
                self._failed(exc)
                raise LedgerError(self._last_error.summary, str(self._last_error)) from None
            if writes and self._in_trouble:
                self._over()

    def _look_at_the_file(self) -> None:
        """Once a second: bytes written over the open file go unseen by SQLite until it reads those pages
        again (a claim could be recorded in garbage), so check the header; a file moved aside or replaced
        is opened anew."""
        if time.monotonic() < self._looked_at + _REOPEN_EVERY:
            return
        self._looked_at = time.monotonic()
        try:
            with open(self._path, "rb") as handle:
                header, inode = handle.read(len(_HEADER)), os.fstat(handle.fileno()).st_ino
        except FileNotFoundError:
            header, inode = b"", -1
        if inode != self._inode:
            self._forget()  # moved aside or replaced: the file at the path is opened (or made) anew
        elif header != _HEADER:
            raise _NotADatabase("file is not a database")

    def _probe(self, db: sqlite3.Connection) -> None:
        """While in trouble, at most once a second: a write that changes nothing, so that health turns green
        once there is room again even when no fire comes due (reads alone would not tell)."""
        if time.monotonic() < self._probed_at + _REOPEN_EVERY:
            return
        self._probed_at = time.monotonic()
        try:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            db.execute(f"PRAGMA user_version = {version}")
        except sqlite3.Error:
            return  # still in trouble; the read goes on
        self._over()

    def _over(self) -> None:
        self._in_trouble = False
        problems.resolved("ledger", f"the ledger {self._path} records claims again")

    def _forget(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
        self._db = None

    def _failed(self, exc: sqlite3.Error | OSError) -> None:
        """Roll back what the failed transaction began; forget a connection to a file that may be corrupt."""
        if self._db is not None and self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
        self._last_error = _ledger_error(self._path, exc)
        self._in_trouble = self._watched
        self._open_at = time.monotonic() + _REOPEN_EVERY  # no new try to open before this
        if self._last_error.summary == _CORRUPT and self._db is not None:
            # Not closed: closing checkpoints the WAL into the file, which can mend its header over
            # garbage and make it look sound. Closed once the file at the path is another one.
            self._poisoned.append(self._db)
            self._db = None
        if self._watched:
            problems.report("ledger", self._last_error.summary, str(self._last_error))

    def claim(
        self, job_id: str, scheduled_at: datetime, term: Term, node: str, run_id: str, manual: bool = False
    ) -> ClaimResult:
        return self.claim_many([ClaimRequest(job_id, scheduled_at, run_id, manual)], term, node)[0]

    def claim_many(self, requests: list[ClaimRequest], term: Term, node: str) -> list[ClaimResult]:
        """Claim several fires in one transaction; each is granted only if never claimed before.

        A retry under the same run id is granted again (its first answer may have been lost).
        A fire not claimed yet whose job runs ``max_instances`` times in this process already
        is BUSY: on one host, this runner's runs are all there are (it holds the host lock).
        """
        now = time.time()
        results = []
        with self._using(writes=True) as db:
            db.execute("BEGIN")
            for request in requests:
                micros = to_micros(request.scheduled_at)
                if 0 < request.max_instances <= request.running_here:
                    results.append(_busy(db, request.job_id, micros, request.run_id))
                    continue
                cursor = db.execute(
                    "INSERT OR IGNORE INTO fires (job_id, scheduled_us, run_id, node, claimed_at, manual) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (request.job_id, micros, request.run_id, node, now, int(request.manual)),
                )
                mine = cursor.rowcount == 1 or _owner(db, request.job_id, micros) == request.run_id
                results.append(ClaimResult.CLAIMED if mine else ClaimResult.DUPLICATE)
            if now - self._last_prune > 60:
                self._last_prune = now
                _prune(db, now - self._retention)
            db.execute("COMMIT")
        return results

    def keep_running(self, runs: list[LiveRun]) -> None:
        """Nothing to keep: one host, whose runner counts its own running instances."""

    def finish(self, run: Run) -> None:
        self.finish_many([run])

    def finish_many(self, runs: list[Run]) -> None:
        """Record outcomes on the claims and append the runs to the bounded history, in one transaction."""
        with self._using(writes=True) as db:
            db.execute("BEGIN")
            for run in runs:
                micros = to_micros(run.scheduled_at)
                db.execute(
                    "UPDATE fires SET outcome = ?, error = ?, finished_at = ? "
                    "WHERE job_id = ? AND scheduled_us = ? AND run_id = ?",
                    (run.outcome, run.error, run.finished_at, run.job_id, micros, run.run_id),
                )
                db.execute(
                    "INSERT OR REPLACE INTO runs (run_id, job_id, scheduled_us, record) VALUES (?, ?, ?, ?)",
                    (run.run_id, run.job_id, micros, encode_run(run.to_dict(), compact=True)),
                )
            for job_id in {run.job_id for run in runs}:
                db.execute(_TRIM_HISTORY, (job_id, job_id, self._history.succeeded, job_id, self._history.other))
            db.execute("COMMIT")

    def last_claimed(self, job_id: str) -> datetime | None:
        return self.last_claimed_all().get(job_id)

    def last_claimed_all(self) -> dict[str, datetime]:
        """Each job's last scheduled (not manual) claim, in one query."""
        with self._using() as db:
            rows = db.execute("SELECT job_id, MAX(scheduled_us) FROM fires WHERE manual = 0 GROUP BY job_id").fetchall()
        return {row[0]: from_micros(int(row[1])) for row in rows}

    def last_runs(self) -> dict[str, RunRecord]:
        with self._using() as db:
            rows = db.execute(
                "SELECT f.job_id, f.scheduled_us, f.node, f.outcome, f.finished_at FROM fires f "
                "JOIN (SELECT job_id, MAX(scheduled_us) AS s FROM fires GROUP BY job_id) m "
                "ON f.job_id = m.job_id AND f.scheduled_us = m.s"
            ).fetchall()
        return {
            job_id: RunRecord(job_id, from_micros(int(micros)), node, last_outcome(outcome), finished_at)
            for job_id, micros, node, outcome, finished_at in rows
        }

    def history(self, job_id: str, limit: int) -> list[Run]:
        with self._using() as db:
            rows = db.execute(
                "SELECT record FROM runs WHERE job_id = ? ORDER BY scheduled_us DESC LIMIT ?", (job_id, limit)
            ).fetchall()
        return parse_history(job_id, [row[0] for row in rows])

    def leader_record(self) -> dict[str, str]:
        return {}  # one host: the host lock's record names the app

    def set_leader_record(self, fields: dict[str, str]) -> None:
        return None

    def paused(self) -> set[str]:
        with self._using() as db:
            return {row[0] for row in db.execute("SELECT job_id FROM paused")}

    def set_paused(self, job_id: str, paused: bool) -> None:
        with self._using(writes=True) as db:
            if paused:
                db.execute("INSERT OR IGNORE INTO paused (job_id, since) VALUES (?, ?)", (job_id, time.time()))
            else:
                db.execute("DELETE FROM paused WHERE job_id = ?", (job_id,))

    def now(self) -> datetime:
        """One host, one clock."""
        return clock.now()

    def resume_floor(self) -> tuple[datetime, str] | None:
        """Claims are durable in the local ledger (synchronous=FULL): there is no floor."""
        return None

    def settle(self, job_ids: list[str], at: datetime) -> None:
        """Never called: the local ledger has no floor."""

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


_REOPEN_EVERY = 1.0
_HEADER = b"SQLite format 3\x00"


class _NotADatabase(sqlite3.DatabaseError):
    """What SQLite would say if it read the file's header now."""

    sqlite_errorcode = sqlite3.SQLITE_NOTADB


_CORRUPT = "the ledger is corrupt"
_FULL = "the state directory is full"


def _ledger_error(path: Path, exc: sqlite3.Error | OSError) -> LedgerError:
    """What a failed open, read or write of the ledger means, and the fix."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_FULL or (isinstance(exc, OSError) and exc.errno == errno.ENOSPC):
        return LedgerError(
            _FULL,
            f"the state directory {path.parent} is full (SCHEDULER_STATE_DIR): the ledger {path.name} cannot record "
            "claims, so no fire is started; free space there (fires are claimed again by themselves)",
        )
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return LedgerError(
            _CORRUPT,
            f"the ledger {path} is corrupt ({exc}): no fire is started while it is; move it aside with its -wal and "
            f"-shm files (`mv {path} {path}.corrupt`); a new, empty ledger is then made by itself. Lost with it: "
            "the run history, the pauses, and which fires were claimed (fires missed meanwhile are not caught up)",
        )
    return LedgerError(
        "the state directory cannot be written",
        f"the ledger {path} cannot be opened or written ({exc}): no fire is started; check SCHEDULER_STATE_DIR="
        f"{path.parent} (room, permissions, a read-only mount)",
    )


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a ledger written by an earlier version up to this schema (claims are kept)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(fires)")}
    if "manual" not in columns:
        db.execute("ALTER TABLE fires ADD COLUMN manual INTEGER NOT NULL DEFAULT 0")


def _owner(db: sqlite3.Connection, job_id: str, micros: int) -> str | None:
    row = db.execute("SELECT run_id FROM fires WHERE job_id = ? AND scheduled_us = ?", (job_id, micros)).fetchone()
    return None if row is None else str(row[0])


def _busy(db: sqlite3.Connection, job_id: str, micros: int, run_id: str) -> ClaimResult:
    """The answer for a fire over max_instances: what it got before if claimed already, else BUSY."""
    owner = _owner(db, job_id, micros)
    if owner is None:
        return ClaimResult.BUSY
    return ClaimResult.CLAIMED if owner == run_id else ClaimResult.DUPLICATE


def _prune(db: sqlite3.Connection, before: float) -> None:
    """Forget claims older than the retention, except each job's latest: catch-up resumes from it.

    Without it, a weekly job (a period longer than the retention) would resume from
    nothing after a restart and silently skip a fire it missed.
    """
    db.execute(
        "DELETE FROM fires WHERE claimed_at < ? AND (manual = 1 OR EXISTS (SELECT 1 FROM fires AS later "
        "WHERE later.job_id = fires.job_id AND later.manual = 0 AND later.scheduled_us > fires.scheduled_us))",
        (before,),
    )
