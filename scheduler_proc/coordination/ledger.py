"""The fire ledger: claims each (job id, scheduled time) once, keeps run history and pauses.

``LocalLedger`` keeps it in SQLite under the state directory (single-host mode);
``RedisLedger`` offers the same methods in cluster mode.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import json
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from scheduler_proc import clock, problems
from scheduler_proc.coordination import decode
from scheduler_proc.coordination.term import Term
from scheduler_proc.errors import LedgerError, UnreadableData

_log = logging.getLogger("scheduler.ledger")


class ClaimResult(enum.Enum):
    """What the ledger said about a fire."""

    CLAIMED = "claimed"  # this node runs it
    DUPLICATE = "duplicate"  # someone already claimed it: never run it again
    FENCED = "fenced"  # our leadership term is no longer current
    UNREPLICATED = "unreplicated"  # claimed, but too few replicas acknowledged it: not run
    UNAVAILABLE = "unavailable"  # the ledger could not be reached: not run; retried while we lead
    FLOORED = "floored"  # at or before the cluster's floor (Redis may have lost claims): cannot be proven unrun
    BUSY = "max_instances"  # the job's max_instances are running in the cluster: it may wait
    EARLY = "early"  # later than Redis's time allows: this host's clock runs ahead; left for whoever leads then


@dataclass(frozen=True)
class Run:
    """One run of a job, as the history keeps it."""

    job_id: str
    run_id: str
    scheduled_at: datetime
    node: str
    term: int | None
    trigger: str  # "schedule" or "manual"
    started_at: float
    finished_at: float | None
    outcome: str  # success, error, timed_out, abandoned, skipped
    error: str | None
    attempts: int = 1  # calls of the job for this fire: 1, plus its retries

    @property
    def duration(self) -> float | None:
        return None if self.finished_at is None else round(self.finished_at - self.started_at, 6)

    def to_dict(self) -> dict[str, Any]:
        return {  # spelled out: dataclasses.asdict deep-copies, and this runs once per fire
            "job_id": self.job_id,
            "run_id": self.run_id,
            "scheduled_at": self.scheduled_at.isoformat(),
            "node": self.node,
            "term": self.term,
            "trigger": self.trigger,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "outcome": self.outcome,
            "error": self.error,
            "duration": self.duration,
            "attempts": self.attempts,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Run:
        """A run as ``to_dict`` wrote it; ValueError when a field is missing or of another type."""
        fields: dict[str, Any] = {k: data.get(k) for k in cls.__dataclass_fields__}
        fields["attempts"] = data.get("attempts", 1)  # runs recorded before retries existed
        fields["scheduled_at"] = datetime.fromisoformat(str(data["scheduled_at"]))
        for name, kinds in _RUN_FIELDS.items():
            value = fields[name]
            if (
                not isinstance(value, kinds)
                or isinstance(value, bool)
                or (isinstance(value, float) and not math.isfinite(value))
            ):
                raise ValueError(f"{name}={value!r}")
        if fields["scheduled_at"].tzinfo is None:
            raise ValueError("scheduled_at has no time zone")
        return cls(**fields)


#: The fields of a stored run and the types each may have (None: absent).
_RUN_FIELDS: dict[str, tuple[type, ...]] = {
    "job_id": (str,),
    "run_id": (str,),
    "node": (str,),
    "term": (int, type(None)),
    "trigger": (str,),
    "started_at": (int, float),
    "finished_at": (int, float, type(None)),
    "outcome": (str,),
    "error": (str, type(None)),
    "attempts": (int,),
}


@dataclass(frozen=True)
class HistoryLimits:
    """Runs kept per job: those that succeeded, and the others (error, abandoned, skipped) apart,
    so a job that fails now and then keeps its failures long after many successes."""

    succeeded: int = 100
    other: int = 200

    def limit_for(self, outcome: str) -> int:
        return self.succeeded if outcome == "success" else self.other


DEFAULT_HISTORY = HistoryLimits()


def newest_first(runs: list[Run], limit: int) -> list[Run]:
    """Runs of two histories merged, newest first (by scheduled time, then start)."""
    return sorted(runs, key=lambda run: (run.scheduled_at, run.started_at), reverse=True)[:limit]


def parse_history(job_id: str, entries: list[str]) -> list[Run]:
    """History entries as runs; an entry that is not a run (corrupt, or written by someone else) is left out.

    Anyone who can write to Redis can write here, so no entry may break the page or the CLI.
    """
    runs, unreadable = [], 0
    for entry in entries:
        try:
            data = json.loads(entry)
            run = Run.from_dict(data) if isinstance(data, dict) else None
        except (ValueError, TypeError, KeyError):
            run = None
        if run is None:
            unreadable += 1
        else:
            runs.append(run)
    key = f"history:{job_id}"
    if unreadable:  # once per job and per count, not on every read of the page
        noun = "y" if unreadable == 1 else "ies"
        decode.report(
            UnreadableData(
                key,
                f"{unreadable} history entr{noun} of job {job_id!r} cannot be read; left out "
                "(they age out of the history, or delete the job's history list)",
            )
        )
    else:
        decode.readable(key)
    return runs


@dataclass(frozen=True)
class RunRecord:
    """The last claimed fire of a job and what became of it."""

    job_id: str
    scheduled_at: datetime
    node: str
    outcome: str
    finished_at: float | None


class ClaimRequest(NamedTuple):
    """One fire to claim, and what the cluster-wide max_instances check needs to know."""

    job_id: str
    scheduled_at: datetime
    run_id: str
    manual: bool = False
    max_instances: int = 0  # 0: no check
    # Runs of the job this process claimed and that have not ended, under any of its terms, plus
    # the claims of the job under way beside this one (see runner.instances).
    running_here: int = 0


class LiveRun(NamedTuple):
    """A run this process claimed that has not ended: its running marker is kept (see MarkerKeeper)."""

    job_id: str
    scheduled_at: datetime
    run_id: str


class Ledger(Protocol):
    """What the scheduler needs from a ledger, local or Redis."""

    #: True when the ledger counts running instances across the cluster (max_instances).
    counts_instances: bool

    def claim_many(self, requests: list[ClaimRequest], term: Term, node: str) -> list[ClaimResult]:
        """Claim each fire for its run, atomically with the check that ``term`` is still current.

        One result per request, in order. A fire already claimed by another run is
        DUPLICATE; the same run asking again (a lost reply) gets CLAIMED again. A fire whose
        job runs ``max_instances`` times already (``running_here`` of this process, plus other
        nodes' live runs where the ledger counts them) is BUSY.
        """
        ...

    def claim(
        self, job_id: str, scheduled_at: datetime, term: Term, node: str, run_id: str, manual: bool = False
    ) -> ClaimResult:
        """Claim one fire (``manual``: a "run now", which does not move where catch-up resumes)."""
        ...

    def finish(self, run: Run) -> None:
        """Record a run's outcome (its claim stays: the fire never runs again)."""
        ...

    def finish_many(self, runs: list[Run]) -> None:
        """Record many outcomes in one write."""
        ...

    def last_claimed_all(self) -> dict[str, datetime]:
        """Each job's latest scheduled claim: where catch-up resumes."""
        ...

    def last_claimed(self, job_id: str) -> datetime | None:
        """One job's latest scheduled claim, or None if it never had one."""
        ...

    def last_runs(self) -> dict[str, RunRecord]:
        """Each job's latest claim (time, node, outcome so far), for the status page."""
        ...

    def history(self, job_id: str, limit: int) -> list[Run]:
        """A job's recent runs, newest first."""
        ...

    def paused(self) -> set[str]:
        """Ids of the jobs operators paused (kept across restarts and leaders)."""
        ...

    def set_paused(self, job_id: str, paused: bool) -> None:
        """Pause or resume one job for every node."""
        ...

    def leader_record(self) -> dict[str, str]:
        """What the last leader said of itself across hosts (empty: not kept, or unreadable)."""
        ...

    def set_leader_record(self, fields: dict[str, str]) -> None:
        """Say which app, node and tzdata lead this namespace now, for standbys to compare."""
        ...

    def now(self) -> datetime:
        """The clock all nodes share: Redis's TIME in cluster mode, this host's clock otherwise."""
        ...

    def resume_floor(self) -> tuple[datetime, str] | None:
        """No fire scheduled at or before this time may run (and why), or None: set when claims may be lost."""
        ...

    def settle(self, job_ids: list[str], at: datetime) -> None:
        """Record ``at`` as these jobs' last claim where theirs is older (catch-up resumes after it)."""
        ...

    def keep_running(self, runs: list[LiveRun]) -> None:
        """Keep the markers of these runs (they still run in this process), writing again those the
        ledger lost; a run whose outcome is recorded already keeps no marker."""
        ...

    def close(self) -> None:
        """Release the connection or database handle."""
        ...


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
                    (run.run_id, run.job_id, micros, _json(run.to_dict())),
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
        return {row[0]: RunRecord(row[0], from_micros(int(row[1])), row[2], row[3], row[4]) for row in rows}

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


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"))


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
