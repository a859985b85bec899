"""The documents that cross a process boundary, written down once.

- **Status file** (:class:`StatusDocument`): the runner replaces it about once a second (at
  once when its role changes; less often with thousands of jobs) and touches it every
  second; HTTP workers, the CLI, the readiness gate and ``/metrics`` read it. A file not
  touched for ``status.STALE_AFTER`` belongs to a scheduler that stopped or hangs.
- **Report pipe** (:class:`Report`): one JSON object per line, runner to supervisor and
  supervisor to master: whether the jobs module loaded, and a heartbeat.
- **Command acknowledgement** (:class:`CommandAck`): the leader's answer to an operator's
  run / pause / resume, carried back by the command bus.

Everything here is plain JSON: nothing crosses a boundary pickled.
"""

from __future__ import annotations

from typing import Literal, NotRequired, Required, TypedDict

from scheduler_proc.problems import Problem

Role = Literal["leader", "standby"]
Mode = Literal["single-host", "cluster"]


class ClusterStatus(TypedDict, total=False):
    """What this node knows of the cluster (empty in single-host mode, or without the host lock)."""

    redis: str  # "ok", "unreachable" or "error"
    leader_node: str | None
    term: int | None  # the leader's fencing token
    lease_age: float | None  # seconds since the lease was last renewed, as this node saw it
    last_renewal_at: float | None  # wall time of this node's last renewal (when it leads)
    lease_ttl: float
    clock_offset: float | None  # this host's clock minus Redis's, in seconds
    clock_ok: bool


class JobRow(TypedDict):
    """One job in the status file."""

    id: str
    trigger: str  # how it fires, in words
    paused: bool
    next_run_at: str | None  # ISO 8601; None when this node does not dispatch
    next_fires: list[str]  # the next few, ISO 8601 in UTC
    last_run_at: str | None
    last_outcome: str | None  # "success", "error", ... as recorded
    last_claimed_at: NotRequired[str | None]  # the latest claim in the ledger, by any node
    last_claimed_by: NotRequired[str | None]


class StatusDocument(TypedDict):
    """The status file: one per master (its pid names the file)."""

    node: str
    role: Role
    runner_pid: int
    master_pid: int
    mode: Mode
    cluster: ClusterStatus
    jobs: list[JobRow]
    tzdata: NotRequired[str]  # the time zone database this runner computes crontab instants with
    conflict: NotRequired[str]  # another app holds this namespace (see scheduler_proc.identity)
    tzdata_mismatch: NotRequired[str]  # the leader's tzdata differs from this node's
    problems: NotRequired[list[Problem]]  # local trouble that turns health red (see scheduler_proc.problems)
    updated_at: NotRequired[float]  # when the content was made (added when written)


ReportEvent = Literal["valid", "invalid", "beat"]


class Report(TypedDict, total=False):
    """One line on a report pipe."""

    event: Required[ReportEvent]
    message: str | None  # why the jobs could not be loaded ("invalid")
    jobs: int  # how many jobs loaded ("valid")


class CommandAck(TypedDict, total=False):
    """The leader's answer to one command; ``error`` says why when ``ok`` is False."""

    ok: Required[bool]
    job_id: str
    paused: bool  # pause / resume
    run_id: str  # run: the run that was (or would have been) made
    scheduled_at: str  # run: the fire's identity, ISO 8601
    result: str | None  # run: "ran", "queued", "already-ran", ...
    reason: str | None
    error: str
