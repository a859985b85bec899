"""What the runner tells the other processes: the status file and the metrics file.

Published at once when the role changes, else about once a second on a cadence that yields
to bursts of fires (the status of many jobs is not free). A standby reads the shared state
(last claims, pauses) seldom, so idle standbys cost a shared Redis almost nothing.
"""

from __future__ import annotations

import contextlib
import os
import time

from scheduler_proc import problems
from scheduler_proc.coordination.backend import Backend
from scheduler_proc.errors import LedgerError, SchedulerError
from scheduler_proc.formats.status import JobRow, StatusDocument
from scheduler_proc.formats.vocabulary import LastOutcome
from scheduler_proc.jobs import Jobs
from scheduler_proc.runner.cadence import Cadence
from scheduler_proc.runner.engine import Engine
from scheduler_proc.runner.metrics import Metrics
from scheduler_proc.settings import Settings
from scheduler_proc.status import remove_status, touch_status, write_status
from scheduler_proc.tzversion import tzdata_version

_STATUS_EVERY = 1.0
#: Readers call a status file stale after status.STALE_AFTER without a touch.
_HEARTBEAT_EVERY = 1.0
_LAST_RUNS_EVERY = 5.0
#: A leader whose fires did nothing since its last read reads the last runs this seldom (only
#: it claims, so only its own activity changes them; the read is a safety net).
_LAST_RUNS_IDLE_EVERY = 60.0
_STANDBY_READS_EVERY = 30.0


class StatusPublisher:
    """Writes this runner's status and metrics files, and removes them when it exits."""

    def __init__(self, settings: Settings, jobs: Jobs, master_pid: int, metrics: Metrics) -> None:
        self.settings = settings
        self.jobs = jobs
        self.master_pid = master_pid
        self.metrics = metrics
        self.status_path = settings.status_path(master_pid)
        self.metrics_path = settings.metrics_path(master_pid)
        self._cadence = Cadence(_STATUS_EVERY)
        self._last_runs_cadence = Cadence(_LAST_RUNS_EVERY)
        self._standby_reads = Cadence(_STANDBY_READS_EVERY)
        self._idle_reads = Cadence(_LAST_RUNS_IDLE_EVERY)
        self._activity_read: tuple[int, int] | None = None  # (engine, its activity) at the last read
        self._published_role: bool | None = None
        self._touched = 0.0
        self._last_runs: dict[str, tuple[str, str, LastOutcome]] = {}
        self._paused: set[str] = set()
        #: Set by the runner while another app holds what this one needs (see scheduler_proc.identity).
        self.conflict: str | None = None
        #: Set by the runner while the leader computes crontab instants with another tzdata.
        self.tzdata_mismatch: str | None = None

    def publish(self, backend: Backend, engine: Engine | None, leading: bool, lock_held: bool) -> None:
        """Write both files if due (see the module docstring); else touch the status file each second."""
        if not self._due(engine, leading):
            if time.monotonic() - self._touched >= _HEARTBEAT_EVERY:
                touch_status(self.status_path)
                self._touched = time.monotonic()
            return
        self._touched = time.monotonic()
        self._cadence.start()
        status = self._status(backend, engine, leading, lock_held)
        self.metrics.leading(leading)
        cluster = status["cluster"]
        self.metrics.mode(backend.mode, cluster.get("store"), cluster.get("store_state"))
        self.metrics.next_runs(status["jobs"])
        try:
            write_status(self.status_path, status)
            self.metrics.write(self.metrics_path)
        except OSError as exc:  # readers see the directory's trouble themselves (web.ops); the runner goes on
            problems.report(
                "lock_dir",
                "the lock directory cannot be written",
                f"cannot write the status file {self.status_path} ({exc.strerror}): free space in SCHEDULER_LOCK_DIR="
                f"{self.settings.lock_dir} or make it writable; until then health reads the last status written",
            )
        else:
            problems.resolved("lock_dir", f"the status file {self.status_path} is written again")
        self._cadence.done()

    def withdraw(self) -> None:
        """At exit: a scheduler that no longer runs publishes nothing."""
        remove_status(self.status_path)
        remove_status(self.metrics_path)

    def _due(self, engine: Engine | None, leading: bool) -> bool:
        if leading != self._published_role:
            self._published_role = leading
            return True
        if engine is None:
            return self._cadence.due()
        # Nor start one that would still run when the next fires are due.
        return self._cadence.due(busy=engine.busy(within=2 * self._cadence.cost + 0.05))

    def _status(self, backend: Backend, engine: Engine | None, leading: bool, lock_held: bool) -> StatusDocument:
        document: StatusDocument = {
            "node": self.settings.node_id,
            "role": "leader" if leading else "standby",
            "runner_pid": os.getpid(),
            "master_pid": self.master_pid,
            "mode": backend.mode,
            "cluster": backend.leadership.status() if lock_held else {},
            "jobs": self._jobs_view(backend, engine),
            "tzdata": tzdata_version(),
        }
        # A status file that gets written proves the lock directory writable: the document never
        # lists that trouble (the first write after it listed it while readers saw health green).
        troubles = problems.current(excluding=("lock_dir",))
        if troubles:
            document["problems"] = troubles
        if self.conflict:
            document["conflict"] = self.conflict
        if self.tzdata_mismatch:
            document["tzdata_mismatch"] = self.tzdata_mismatch
        return document

    def _idle_rows(self) -> list[JobRow]:
        """The job table of a scheduler that does not dispatch: same fields, no next run."""
        return [
            {
                "id": spec.id,
                "trigger": spec.description,
                "paused": spec.id in self._paused,
                "next_run_at": None,
                "next_fires": [],
                "last_run_at": None,
                "last_outcome": None,
            }
            for spec in self.jobs
        ]

    def _jobs_view(self, backend: Backend, engine: Engine | None) -> list[JobRow]:
        cadence = self._last_runs_cadence if engine else self._standby_reads
        activity = (id(engine), engine.dispatcher.activity) if engine else None
        if cadence.due() and (activity != self._activity_read or self._idle_reads.due()):
            self._activity_read = activity
            self._idle_reads.start()
            self._idle_reads.done()
            cadence.start()
            # A ledger in trouble (reported as a problem): the last known ones stay.
            with contextlib.suppress(LedgerError):
                records = backend.ledger.last_runs()
                self._last_runs = {
                    job: (record.scheduled_at.isoformat(), record.node, record.outcome)
                    for job, record in records.items()
                }
                self.metrics.seed(records.values())
            if engine is None:
                try:
                    self._paused = backend.ledger.paused()
                except SchedulerError:
                    self._paused = set()
            cadence.done()
        rows = engine.snapshot() if engine else self._idle_rows()
        for row in rows:
            claimed = self._last_runs.get(row["id"])
            row["last_claimed_at"], row["last_claimed_by"] = (claimed[0], claimed[1]) if claimed else (None, None)
            if row["last_run_at"] is None and claimed:
                row["last_run_at"], row["last_outcome"] = claimed[0], claimed[2]
        return rows
