"""The documents made from what :class:`~scheduler_proc.web.ops.Operations` reads, for the HTTP API
and the CLI's ``--json``: every time as ISO 8601 with its offset (``2026-12-04T15:00:00+00:00``).

The status file and the ledger keep Unix seconds for ``updated_at``, ``last_renewal_at``,
``started_at`` and ``finished_at`` (the runner writes them); the API and the CLI turn them
into the format their other times (``scheduled_at``, ``next_run_at``) have, here and only here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

#: Fields of a status document and of a run that hold Unix seconds in what Operations returns.
_STATUS_SECONDS = ("updated_at",)
_CLUSTER_SECONDS = ("last_renewal_at",)
_RUN_SECONDS = ("started_at", "finished_at")


def iso(seconds: Any) -> Any:
    """Unix seconds as ISO 8601 in UTC with its offset; None (and a value that is no number) as it is."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return seconds
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="microseconds")


def _converted(document: Mapping[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {**document, **{name: iso(document[name]) for name in fields if name in document}}


def run_answer(run: Mapping[str, Any]) -> dict[str, Any]:
    """A run of the history."""
    return _converted(run, _RUN_SECONDS)


def status_answer(status: Mapping[str, Any]) -> dict[str, Any]:
    """A status or overview document (with its cluster view and recent runs)."""
    answer = _converted(status, _STATUS_SECONDS)
    if isinstance(status.get("cluster"), dict):
        answer["cluster"] = _converted(status["cluster"], _CLUSTER_SECONDS)
    if isinstance(status.get("recent_runs"), list):
        answer["recent_runs"] = [run_answer(run) for run in status["recent_runs"]]
    return answer


def job_answer(job: Mapping[str, Any]) -> dict[str, Any]:
    """One job with its history."""
    return {**job, "history": [run_answer(run) for run in job.get("history", [])]}
