"""The documents the kit's HTTP routers answer with, as pydantic models: their OpenAPI schemas are
what a client generator reads.

The routes answer with ``JSONResponse`` (FastAPI's encoder is slow on thousands of jobs), so these
models describe the answers and do not build them; ``tests/test_api_schema.py`` checks real
answers against them (``extra="forbid"``: a field the code adds and the model lacks fails it).

Every time is ISO 8601 with its offset (``2026-12-04T15:00:00+00:00``); the status file keeps
Unix seconds, which :mod:`scheduler_proc.web.answers` converts at the boundary.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from scheduler_proc.formats.vocabulary import LastOutcome, ManualRunResult, RunOrigin, RunOutcome


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Error(_Document):
    """Every error of the kit's routers: a human ``detail`` and a stable ``code`` to branch on."""

    detail: str = Field(description="what went wrong and the fix, for a human; may change between versions")
    code: str = Field(description="stable, snake_case; the table in docs/operations.md lists them")
    errors: list[InvalidField] | None = Field(None, description="invalid_request only: each invalid part")


class InvalidField(_Document):
    """One invalid part of a request (``invalid_request``), every known secret masked."""

    loc: list[str | int] = Field(description="where: ('query', 'limit'), ('path', 'job_id'), ...")
    msg: str
    type: str
    input: str | None = Field(None, description="what was sent there, masked")


class Liveness(_Document):
    """``livez``: this web worker answers."""

    status: Literal["ok"]


class Readiness(_Document):
    """``readyz`` at 200."""

    status: Literal["ready"]
    reason: str


class NotReady(Error):
    """``readyz`` at 503: the error fields (``code`` ``not_ready``) and the readiness fields."""

    status: Literal["not ready"]
    reason: str


class Problem(_Document):
    """Local trouble that turns health red."""

    summary: str = Field(description="short, names no path")
    detail: str = Field(description="the path or target, and the fix")


class ClusterStatus(_Document):
    """What this node knows of the cluster; every field absent in single-host mode."""

    store: Literal["redis", "postgres"] | None = Field(None, description="the cluster's coordination store")
    store_state: Literal["ok", "unreachable", "error", "unknown"] | None = Field(
        None, description="this node's link to the store, as its last lease call found it"
    )
    redis: Literal["ok", "unreachable", "error", "unknown"] | None = Field(
        None, description="on Redis only, the same as store_state (its name in 0.2)"
    )
    leader_node: str | None = None
    term: int | None = Field(None, description="the leader's fencing token")
    lease_age: float | None = Field(None, description="seconds since the lease was last renewed, as this node saw it")
    last_renewal_at: datetime | None = Field(None, description="this node's last renewal (when it leads)")
    lease_ttl: float | None = Field(None, description="seconds")
    clock_offset: float | None = Field(None, description="this host's clock minus the store's, in seconds")
    clock_ok: bool | None = None


class Job(_Document):
    """One job, as the status file publishes it."""

    id: str
    trigger: str = Field(description="how it fires, in words")
    paused: bool
    next_run_at: datetime | None = Field(description="null when this node does not dispatch")
    next_fires: list[datetime] = Field(description="the next few, on the node that dispatches")
    last_run_at: datetime | None = Field(description="the scheduled time of its last run")
    last_outcome: LastOutcome | None = Field(
        description="as recorded; unknown when its record expired or holds a word of a later version"
    )
    last_claimed_at: datetime | None = Field(None, description="the latest claim in the ledger, by any node")
    last_claimed_by: str | None = None


class Run(_Document):
    """One run of a job, as the history keeps it."""

    job_id: str
    run_id: str
    scheduled_at: datetime = Field(description="the fire's identity")
    node: str
    term: int | None = Field(description="the fencing token; null on a single host")
    origin: RunOrigin = Field(description="schedule, or manual: an operator's run now")
    started_at: datetime
    finished_at: datetime | None = Field(description="null while it runs")
    outcome: RunOutcome
    error: str | None
    duration: float | None = Field(description="seconds; null while it runs")
    attempts: int = Field(description="calls of the job for this fire: 1, plus its retries")


class Status(_Document):
    """This host's scheduler, the cluster as it sees it, and the jobs."""

    node: str
    role: Literal["leader", "standby", "stopped", "disabled", "blocked"]
    pid: int | None = Field(description="the process that runs jobs on this host")
    leader_node: str | None
    mode: Literal["single-host", "cluster"]
    cluster: ClusterStatus
    jobs: list[Job]
    updated_at: datetime | None = Field(description="when the scheduler last published its status")
    tzdata: str | None = Field(description="the time zone database crontab instants are computed with")
    problems: list[Problem]
    conflict: str | None = Field(None, description="another app holds this app's namespace on this host")
    tzdata_mismatch: str | None = Field(None, description="the leader's tzdata differs from this node's")


class Overview(Status):
    """What the status page shows: the status and the latest runs across jobs."""

    recent_runs: list[Run] | None = Field(description="newest first; null when the ledger cannot be read")
    recent_runs_error: str | None = Field(None, description="why recent_runs is null")


class JobList(RootModel[list[Job]]):
    """Every job of the status file."""


class JobDetail(Job):
    """One job with its latest runs."""

    history: list[Run] = Field(description="newest first")


class CommandAnswer(_Document):
    """The leader's answer to run, pause or resume (``ok`` is true: else the answer is a 409)."""

    ok: Literal[True]
    job_id: str | None = None
    paused: bool | None = Field(None, description="pause and resume")
    run_id: str | None = Field(None, description="run: the run that was (or would have been) made")
    scheduled_at: datetime | None = Field(None, description="run: the fire's identity")
    result: ManualRunResult | None = Field(None, description="run: ran, queued or already-ran")
    reason: str | None = None


Error.model_rebuild()
