"""Operations shared by the HTTP API, the status page and the CLI: read state, send commands."""

from __future__ import annotations

import heapq
import logging
import os
from datetime import UTC, datetime
from typing import Literal, NotRequired, TypedDict

from scheduler_proc import problems
from scheduler_proc.coordination.backend import StoreClient, current_leader, open_bus, open_ledger, open_store
from scheduler_proc.coordination.interfaces import CommandBus, Ledger
from scheduler_proc.coordination.local.hostlock import Holder, read_holder
from scheduler_proc.coordination.records import Command
from scheduler_proc.errors import (
    LedgerError,
    NoAnswer,
    NoScheduler,
    RedisConfigError,
    RedisUnavailable,
    StoreConfigError,
    StoreUnavailable,
    UnknownJob,
    UnreadableData,
)
from scheduler_proc.formats.acks import CommandAck
from scheduler_proc.formats.history import RunEntry
from scheduler_proc.formats.status import ClusterStatus, JobRow, Problem
from scheduler_proc.formats.vocabulary import Mode, Role, command_action
from scheduler_proc.identity import AppIdentity
from scheduler_proc.securedir import read_trusted, trusted_dir
from scheduler_proc.settings import Settings
from scheduler_proc.status import read_status

ANSWER_TIMEOUT = 5.0
#: A scheduler directory with less room than this (bytes) counts as full: a claim or a status write would fail.
FULL_BELOW = 64 * 1024
#: How many runs the status page lists under "Recent runs".
RECENT_RUNS = 20

log = logging.getLogger("scheduler.web")

#: What the operator is told of this host's scheduler: the status file's role, or why there is none.
HostRole = Role | Literal["disabled", "blocked", "stopped"]


class HostStatus(TypedDict):
    """This host's scheduler as ``/scheduler/status`` and ``scheduler-proc status`` show it."""

    node: str
    role: HostRole
    pid: int | None  # the runner holding the host lock (None when another app holds it)
    leader_node: str | None
    mode: Mode
    cluster: ClusterStatus
    jobs: list[JobRow]
    updated_at: float | None
    tzdata: str | None
    problems: list[Problem]
    conflict: NotRequired[str]
    tzdata_mismatch: NotRequired[str]
    recent_runs: NotRequired[list[RunEntry] | None]  # the overview only
    recent_runs_error: NotRequired[str]


class JobDetail(JobRow):
    """One job of the status file with its recent runs."""

    history: list[RunEntry]


def _when(row: JobRow) -> datetime | None:
    """When a job of the status file last ran, in UTC (an unreadable time counts as never)."""
    try:
        moment = datetime.fromisoformat(row["last_run_at"]) if row["last_run_at"] else None
    except ValueError:
        return None
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)


class Operations:
    """One per process (web worker or CLI); opens Redis or the local ledger lazily."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: StoreClient | None = open_store(settings)
        self._ledger: Ledger | None = None
        self._bus: CommandBus | None = None

    # -- reading -------------------------------------------------------------------------------
    def _lock_dir_ready(self) -> bool:
        """True when the host lock's directory exists and may be trusted (raises LockDirError if not)."""
        return trusted_dir(self.settings.lock_dir, "SCHEDULER_LOCK_DIR")

    def status(self, master_pid: int | None = None, directory: str | None = None) -> HostStatus:
        """This host's scheduler: role of ``master_pid``'s scheduler (default: the lock holder's), jobs, cluster.

        When the lock is held by another app (see :mod:`scheduler_proc.identity`), its jobs are
        not shown as ours and ``conflict`` says why. ``directory``: the caller's app directory, to
        compare as well (a web worker without a gunicorn master of its own; not the CLI, which
        may run anywhere).
        """
        ready = self._lock_dir_ready()
        holder = read_holder(self.settings.lock_path) if ready else None
        foreign = self._foreign(holder, directory)
        if master_pid is None and holder is not None and not foreign:
            master_pid = holder.master_pid
        own = read_status(self.settings.status_path(master_pid)) if ready and master_pid else None
        # Our master is usually the holder: its file, megabytes with thousands of jobs, is read once.
        if foreign or holder is None:
            active = None
        elif holder.master_pid == master_pid:
            active = own
        else:
            active = read_status(self.settings.status_path(holder.master_pid))
        conflict = foreign or (own.get("conflict") if own else None)
        role = "disabled" if not self.settings.enabled else own["role"] if own else "blocked" if foreign else "stopped"
        source = own if conflict else active or own
        mine = own or source  # this node's view of the cluster, its tzdata and its troubles
        answer = HostStatus(
            node=self.settings.node_id,
            role=role,
            pid=holder.pid if holder and not conflict else None,
            leader_node=holder.node
            if holder and not self.settings.cluster and not conflict
            else (mine["cluster"].get("leader_node") if mine else None),
            mode=source["mode"] if source else "cluster" if self.settings.cluster else "single-host",
            cluster=mine["cluster"] if mine else {},
            jobs=source["jobs"] if source else [],
            updated_at=source.get("updated_at") if source else None,
            tzdata=mine.get("tzdata") if mine else None,
            problems=problems.merged(mine.get("problems", []) if mine else [], self._directory_problems()),
        )
        if conflict:
            answer["conflict"] = conflict
        if mine and mine.get("tzdata_mismatch"):
            answer["tzdata_mismatch"] = mine["tzdata_mismatch"]
        return answer

    def _directory_problems(self) -> list[Problem]:
        """The scheduler's directories as this process sees them: one the runner cannot write to cannot
        say so in the status file either (it lives there)."""
        found = []
        for path, setting, name in (
            (self.settings.lock_dir, "SCHEDULER_LOCK_DIR", "lock"),
            (self.settings.state_dir, "SCHEDULER_STATE_DIR", "state"),
        ):
            try:
                space = os.statvfs(path)
            except OSError:
                continue  # not made yet: the scheduler makes it, or says why it cannot
            if space.f_flag & os.ST_RDONLY:
                found.append(
                    Problem(
                        summary=f"the {name} directory is read-only",
                        detail=f"{setting}={path} is on a read-only file system; point it at a writable directory",
                    )
                )
            elif space.f_bavail * space.f_frsize < FULL_BELOW:
                found.append(
                    Problem(
                        summary=f"the {name} directory is full",
                        detail=f"the {name} directory {path} is full ({setting}): "
                        f"{space.f_bavail * space.f_frsize} bytes free; free space there",
                    )
                )
        return found

    def _foreign(self, holder: Holder | None, directory: str | None) -> str | None:
        """Why the host lock's holder is another app, judged by its jobs module (and ``directory``
        when given), or None."""
        if holder is None:
            return None
        ours = AppIdentity(self.settings.jobs_ref, directory or "")
        return ours.conflict(holder.jobs, holder.directory if directory else None, self.settings.namespace)

    def ready(self, master_pid: int | None = None, directory: str | None = None) -> tuple[bool, str]:
        """Is this app's scheduler running on this host (leading, standing by, or disabled on purpose)?"""
        status = self.status(master_pid, directory)
        if "conflict" in status:
            return False, "another app holds this app's namespace on this host; the server's log says which"
        if status["problems"]:
            summaries = "; ".join(problem["summary"] for problem in status["problems"])
            return False, f"the scheduler on this host is in trouble: {summaries} (its status says where and the fix)"
        if status["role"] in ("leader", "standby", "disabled"):
            return True, f"the scheduler on this host is {status['role']}"
        return False, f"no scheduler of this app runs on this host (role {status['role']})"

    def overview(
        self, master_pid: int | None = None, directory: str | None = None, recent: int = RECENT_RUNS
    ) -> HostStatus:
        """What the status page shows, from one read of the status file: :meth:`status` plus ``recent_runs``.

        ``recent_runs`` holds the latest ``recent`` runs across all jobs, newest first; None
        (and ``recent_runs_error`` says why) when the ledger cannot be read.
        """
        status = self.status(master_pid, directory)
        try:
            status["recent_runs"] = self.recent_runs(status["jobs"], recent)
        except (StoreUnavailable, StoreConfigError) as exc:
            # The jobs table does not need the store; the page still shows it. Details stay in the log.
            log.warning("status page without recent runs: %s", exc)
            store = "Redis" if isinstance(exc, (RedisUnavailable, RedisConfigError)) else "PostgreSQL"
            status["recent_runs"] = None
            status["recent_runs_error"] = f"the scheduler's {store} cannot be reached; the server's log says more"
        except LedgerError as exc:
            log.warning("status page without recent runs: %s", exc)
            status["recent_runs"] = None
            status["recent_runs_error"] = f"the scheduler's ledger cannot be read: {exc.summary}"
        return status

    def recent_runs(self, rows: list[JobRow], limit: int = RECENT_RUNS) -> list[RunEntry]:
        """The latest ``limit`` runs across the jobs in ``rows``, newest first, in at most ``limit`` ledger reads.

        Every one of them belongs to one of the ``limit`` jobs that ran last (by the status
        file's ``last_run_at``): a run of any other job is older than those jobs' last runs. The
        file is about a second old, so a job whose first run is newer may show on the next read.
        """
        dated = [(when, row["id"]) for row in rows if (when := _when(row)) is not None]
        runs = [run for _, job_id in heapq.nlargest(limit, dated) for run in self.history(job_id, limit)]
        return heapq.nlargest(limit, runs, key=lambda run: run["started_at"])

    def jobs(self) -> list[JobRow]:
        status = self.status()
        if status["role"] == "stopped" and not status["jobs"]:
            raise NoScheduler(
                f"no scheduler runs on node {self.settings.node_id}; start gunicorn with the kit's config"
            )
        return list(status["jobs"])

    def job(self, job_id: str, limit: int = 20) -> JobDetail:
        rows = self.jobs()
        for row in rows:
            if row["id"] == job_id:
                return JobDetail(**row, history=self.history(job_id, limit))
        raise UnknownJob(f"unknown job {job_id!r}; known jobs: {', '.join(r['id'] for r in rows) or 'none'}")

    def history(self, job_id: str, limit: int = 20) -> list[RunEntry]:
        return [run.to_dict() for run in self._ledger_reader().history(job_id, limit)]

    def metrics(self, master_pid: int | None = None) -> bytes:
        if not self._lock_dir_ready():
            return b""
        holder = read_holder(self.settings.lock_path)
        pid = master_pid or (holder.master_pid if holder else None)
        # Read as status files are: a regular file of this user, no symlink followed, no FIFO waited on.
        found = read_trusted(self.settings.metrics_path(pid)) if pid else None
        return found[1] if found else b""

    def check(self) -> tuple[bool, str]:
        """Is this host's scheduler up and (in cluster mode) does the cluster have a leader?"""
        holder = read_holder(self.settings.lock_path) if self._lock_dir_ready() else None
        document = read_status(self.settings.status_path(holder.master_pid)) if holder is not None else None
        if holder is None or document is None:
            return (
                False,
                f"no scheduler runs on node {self.settings.node_id} (host lock {self.settings.lock_path} is free)",
            )
        trouble = problems.merged(document.get("problems", []), self._directory_problems())
        if trouble:
            return False, "; ".join(problem["detail"] for problem in trouble)
        if self._client is None:
            return True, f"scheduler pid {holder.pid} runs the jobs on node {holder.node}"
        try:
            leader = current_leader(self.settings, self._client)
        except (StoreUnavailable, StoreConfigError) as exc:
            return False, str(exc)
        except UnreadableData as exc:
            return False, f"the cluster has no leader: {exc} (a leader is elected within two lease TTLs)"
        if leader is None:
            store = "Redis" if self.settings.redis is not None else "PostgreSQL"
            return False, f"the cluster has no leader (no lease in {store})"
        term, node = leader
        return True, f"scheduler pid {holder.pid} is up on node {self.settings.node_id}; node {node} leads, term {term}"

    # -- acting --------------------------------------------------------------------------------
    def send(self, action: str, job_id: str, timeout: float = ANSWER_TIMEOUT) -> CommandAck:
        """Send a command to the leader and wait for its answer."""
        known = command_action(action)
        if job_id not in {row["id"] for row in self.jobs()}:
            raise UnknownJob(f"unknown job {job_id!r}")
        command = Command.new(known, job_id)
        bus = self._command_bus()
        bus.submit(command)
        answer = bus.wait_ack(command, timeout)
        if answer is None:
            raise NoAnswer(
                f"no leader acknowledged '{action} {job_id}' within {timeout:g}s; "
                "check that a scheduler leads (status) — the command expires unanswered after 30s"
            )
        return answer

    def _ledger_reader(self) -> Ledger:
        if self._ledger is None:
            self._ledger = open_ledger(self.settings, self._client)
        return self._ledger

    def _command_bus(self) -> CommandBus:
        if self._bus is None:
            if not self.settings.cluster and not self._lock_dir_ready():
                raise NoScheduler(f"no scheduler runs on node {self.settings.node_id}: nothing to send commands to")
            self._bus = open_bus(self.settings, self._client)
        return self._bus
