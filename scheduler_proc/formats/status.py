"""The status file: one JSON document per master, written by its runner, read by the web side.

The runner replaces it about once a second (at once when its role changes; less often with
thousands of jobs) and touches it every second; HTTP workers, the CLI, the readiness gate and
``/metrics`` read it. Extra keys are ignored (a newer runner may add some); a missing or
mistyped key makes the whole document unreadable: its reader treats it as no status.
"""

from __future__ import annotations

import json
from typing import NotRequired, TypedDict

from scheduler_proc.formats.validate import Fields, Source, parse_json
from scheduler_proc.formats.vocabulary import MODES, ROLES, LastOutcome, Mode, Role, last_outcome


class Problem(TypedDict):
    """One local trouble, as the status file and ``/scheduler/status`` carry it."""

    summary: str  # short, no path
    detail: str  # the path or target, and the fix


class ClusterStatus(TypedDict, total=False):
    """What this node knows of the cluster (empty in single-host mode, or without the host lock)."""

    store: str  # the cluster's coordination store: "redis" or "postgres"
    store_state: str  # "ok", "unreachable" or "error"
    redis: str  # the store's state under its 0.2 name, written for Redis only (readers use store_state)
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
    last_outcome: LastOutcome | None  # as recorded; None: no run known
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


def status_source(path: object) -> Source:
    """The status file at ``path``, for messages."""
    return Source(f"status file {path}", "its runner rewrites it within a second; delete it if it stays so")


def encode_status(document: StatusDocument, updated_at: float) -> bytes:
    """The file's bytes: ``document`` with the time it was made."""
    return json.dumps({**document, "updated_at": updated_at}).encode()


def decode_status(raw: bytes, source: Source) -> StatusDocument:
    """The document in ``raw``; UnreadableData names the first field of another shape."""
    fields = Fields(source, parse_json(source, raw))
    document = StatusDocument(
        node=fields.text("node"),
        role=fields.choice("role", ROLES),
        runner_pid=fields.integer("runner_pid"),
        master_pid=fields.integer("master_pid"),
        mode=fields.choice("mode", MODES),
        cluster=_cluster(fields.object("cluster")),
        jobs=[_job(row) for row in fields.objects("jobs")],
    )
    if fields.has("tzdata"):
        document["tzdata"] = fields.text("tzdata")
    if fields.has("conflict"):
        document["conflict"] = fields.text("conflict")
    if fields.has("tzdata_mismatch"):
        document["tzdata_mismatch"] = fields.text("tzdata_mismatch")
    if fields.has("problems"):
        document["problems"] = [_problem(entry) for entry in fields.objects("problems")]
    if fields.has("updated_at"):
        document["updated_at"] = fields.number("updated_at")
    return document


def _store(fields: Fields, cluster: ClusterStatus) -> None:
    """The store and its state; a document of 0.2 names only ``redis`` (its state)."""
    if fields.has("store"):
        cluster["store"] = fields.text("store")
    if fields.has("store_state"):
        cluster["store_state"] = fields.text("store_state")
    if fields.has("redis"):
        cluster["redis"] = fields.text("redis")
        cluster.setdefault("store", "redis")
        cluster.setdefault("store_state", cluster["redis"])


def _cluster(fields: Fields) -> ClusterStatus:
    cluster = ClusterStatus()
    _store(fields, cluster)
    if fields.has("leader_node"):
        cluster["leader_node"] = fields.optional_text("leader_node")
    if fields.has("term"):
        cluster["term"] = fields.optional_integer("term")
    if fields.has("lease_age"):
        cluster["lease_age"] = fields.optional_number("lease_age")
    if fields.has("last_renewal_at"):
        cluster["last_renewal_at"] = fields.optional_number("last_renewal_at")
    if fields.has("clock_offset"):
        cluster["clock_offset"] = fields.optional_number("clock_offset")
    if fields.has("lease_ttl"):
        cluster["lease_ttl"] = fields.number("lease_ttl")
    if fields.has("clock_ok"):
        cluster["clock_ok"] = fields.boolean("clock_ok")
    return cluster


def _last_outcome(word: str | None) -> LastOutcome | None:
    """A word of a later version (a USR2 upgrade runs two versions side by side) shows as
    ``unknown``: one job's last outcome must not make the whole status unreadable."""
    return None if word is None else last_outcome(word)


def _job(fields: Fields) -> JobRow:
    row = JobRow(
        id=fields.text("id"),
        trigger=fields.text("trigger"),
        paused=fields.boolean("paused"),
        next_run_at=fields.optional_text("next_run_at"),
        next_fires=fields.texts("next_fires"),
        last_run_at=fields.optional_text("last_run_at"),
        last_outcome=_last_outcome(fields.optional_text("last_outcome")),
    )
    if fields.has("last_claimed_at"):
        row["last_claimed_at"] = fields.optional_text("last_claimed_at")
    if fields.has("last_claimed_by"):
        row["last_claimed_by"] = fields.optional_text("last_claimed_by")
    return row


def _problem(fields: Fields) -> Problem:
    return Problem(summary=fields.text("summary"), detail=fields.text("detail"))
