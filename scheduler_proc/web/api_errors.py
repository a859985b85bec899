"""The errors of the kit's HTTP routers: one body, ``{"detail": "...", "code": "..."}``, and the
stable codes, listed once (docs/operations.md has the same table; a test compares them)."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from fastapi.responses import JSONResponse

from scheduler_proc.web.models import Error, NotReady

#: Every code the routers answer with, and when. Codes never change meaning; new ones may come.
CODES = {
    "unauthorized": "401: the bearer token is missing or wrong",
    "admin_disabled": "403: admin endpoints are off (no SCHEDULER_ADMIN_TOKEN on the server)",
    "unknown_job": "404: no job has this id",
    "command_refused": "409: the leader did not carry the command out; `detail` says why",
    "invalid_request": "422: a parameter is invalid; `errors` lists each",
    "no_scheduler": "503: no scheduler runs on this host",
    "not_ready": "503 (readyz): this app's scheduler does not run here, or is in trouble",
    "redis_unavailable": "503: the scheduler's Redis cannot be reached (details in the server's log)",
    "store_unavailable": "503: the scheduler's PostgreSQL cannot be reached (details in the server's log)",
    "ledger_unreadable": "503: the scheduler's ledger cannot be read",
    "files_untrusted": "503: the scheduler's files on this host are not trusted (see the server's log)",
    "no_answer": "504: no leader acknowledged the command in time",
}

#: The code of an HTTPException raised without one (by FastAPI itself, or an app's dependency).
_BY_STATUS = {401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict", 422: "invalid_request"}


class ApiError(HTTPException):
    """An HTTP error of the kit's routers, with its stable ``code`` (one of :data:`CODES`)."""

    def __init__(self, status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> None:
        if code not in CODES:
            raise ValueError(f"error code {code!r} is not in api_errors.CODES; add it there and to the docs' table")
        super().__init__(status, detail, headers)
        self.code = code


def error_answer(exc: HTTPException, headers: dict[str, str]) -> JSONResponse:
    """``exc`` as the kit's error body (a plain HTTPException gets the code of its status)."""
    code = exc.code if isinstance(exc, ApiError) else _BY_STATUS.get(exc.status_code, "error")
    body = {"detail": str(exc.detail), "code": code}
    return JSONResponse(body, status_code=exc.status_code, headers={**(exc.headers or {}), **headers})


_DESCRIPTIONS = {
    401: "missing or wrong bearer token (`unauthorized`)",
    403: "admin endpoints are disabled (`admin_disabled`)",
    404: "unknown job (`unknown_job`)",
    409: "the leader did not carry the command out (`command_refused`)",
    422: "an invalid parameter (`invalid_request`)",
    503: "no scheduler, Redis unreachable, ledger unreadable or files untrusted "
    "(`no_scheduler`, `redis_unavailable`, `store_unavailable`, `ledger_unreadable`, `files_untrusted`)",
    504: "no leader answered in time (`no_answer`)",
}


def declared(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route that may answer ``statuses``: each with the error model."""
    return {status: {"model": Error, "description": _DESCRIPTIONS[status]} for status in statuses}


#: readyz's 503: the readiness document with the error fields.
NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {
        "model": NotReady,
        "description": "not ready (`not_ready`), or Redis unreachable, ledger unreadable, files untrusted",
    }
}
