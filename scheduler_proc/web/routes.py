"""HTTP side: FastAPI routers for the scheduler's status, jobs, history, commands, page and metrics.

Mount them in your app::

    app.include_router(scheduler_router(), prefix="/scheduler")
    app.include_router(metrics_router())

Every worker reads the same files and stores, so any worker gives the same answer.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import os
import re
from collections.abc import Callable, Coroutine
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST

from scheduler_proc.errors import (
    LedgerError,
    LockDirError,
    NoAnswer,
    NoScheduler,
    RedisConfigError,
    RedisUnavailable,
    UnknownJob,
)
from scheduler_proc.master.lifespan import managed_by_gunicorn_hooks
from scheduler_proc.redact import redact, redact_document
from scheduler_proc.settings import Settings
from scheduler_proc.web.ops import Operations

_bearer = HTTPBearer(auto_error=False, description="SCHEDULER_ADMIN_TOKEN or SCHEDULER_READ_TOKEN")
log = logging.getLogger("scheduler.web")


@functools.lru_cache(maxsize=1)
def operations() -> Operations:
    """One per worker process, created on first use (after gunicorn forked the worker)."""
    return Operations(Settings.from_env())


def _master_pid() -> int | None:
    """Under the kit's gunicorn hooks: our master, whose scheduler this worker reports.

    Otherwise (uvicorn --workers, fastapi run) the host's active scheduler is reported.
    """
    return os.getppid() if managed_by_gunicorn_hooks() else None


def _whose() -> tuple[int | None, str | None]:
    """Whose scheduler this worker reports: its gunicorn master's, or (without one) this app's,
    told apart from another app's in the same namespace by the directory it runs in."""
    master = _master_pid()
    return master, None if master is not None else os.getcwd()


def require_admin(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    """Mutating endpoints need ``Authorization: Bearer <SCHEDULER_ADMIN_TOKEN>`` (compared in constant time)."""
    token = operations().settings.admin_token
    if token is None:
        raise HTTPException(403, "admin endpoints are disabled: set SCHEDULER_ADMIN_TOKEN on the server to enable them")
    if not _matches(credentials, token):
        raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})


def require_reader(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    """With SCHEDULER_READ_TOKEN set, reading needs it (or the admin token); without, reading is open."""
    settings = operations().settings
    if settings.read_token is None:
        return
    if not _matches(credentials, settings.read_token) and not (
        settings.admin_token is not None and _matches(credentials, settings.admin_token)
    ):
        raise HTTPException(
            401, "missing or wrong bearer token (SCHEDULER_READ_TOKEN)", headers={"WWW-Authenticate": "Bearer"}
        )


def _matches(credentials: HTTPAuthorizationCredentials | None, token: str) -> bool:
    return credentials is not None and hmac.compare_digest(credentials.credentials.encode(), token.encode())


def _answer(call: Any, *args: Any) -> Any:
    """``call``'s document with every known secret masked (a job's error text, a job id), or the HTTP error."""
    try:
        return redact_document(call(*args))
    except UnknownJob as exc:
        raise HTTPException(404, redact(str(exc))) from None
    except NoScheduler as exc:
        raise HTTPException(503, redact(str(exc))) from None
    except NoAnswer as exc:
        raise HTTPException(504, redact(str(exc))) from None
    except (RedisUnavailable, RedisConfigError) as exc:
        # Connection details stay in the server's log, not in an answer anyone may read.
        log.warning("answering 503: %s", exc)
        raise HTTPException(503, "the scheduler's Redis cannot be reached; the server's log says more") from None
    except LedgerError as exc:
        log.warning("answering 503: %s", exc)
        raise HTTPException(
            503, f"the scheduler's ledger cannot be read: {exc.summary}; the server's log says more"
        ) from None
    except LockDirError as exc:
        log.warning("answering 503: %s", exc)
        raise HTTPException(
            503, "the scheduler's files on this host are not trusted; the server's log says why"
        ) from None


class _NoSniffingRoute(APIRoute):
    """Every answer of the router says its content type is what it claims (``nosniff``), and a
    request the router refuses as invalid (422) is answered with every known secret masked:
    FastAPI's answer quotes the input, which may be a token sent in the wrong place.

    Set on the response the endpoint made: a header set by a dependency is dropped when the
    endpoint returns its own Response, as the JSON routes here do.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def no_sniffing(request: Request) -> Response:
            try:
                response = await handler(request)
            except RequestValidationError as exc:  # as FastAPI's own handler answers, masked
                response = JSONResponse({"detail": redact_document(jsonable_encoder(exc.errors()))}, status_code=422)
            response.headers["X-Content-Type-Options"] = "nosniff"
            return response

        return no_sniffing


@functools.lru_cache(maxsize=1)
def _page() -> str:
    return resources.files("scheduler_proc.web").joinpath("status_page.html").read_text()


@functools.lru_cache(maxsize=1)
def _page_headers() -> dict[str, str]:
    """A Content-Security-Policy that allows exactly the page's own inline script and style (by hash)."""
    page = _page()
    hashes = {
        kind: " ".join(
            f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
            for body in re.findall(rf"<{kind}>(.*?)</{kind}>", page, re.S)
        )
        for kind in ("script", "style")
    }
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; script-src {hashes['script']}; style-src {hashes['style']}; "
            "connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        ),
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


def _carried_out(answer: dict[str, Any]) -> dict[str, Any]:
    """The leader's answer, or 409 with its reason when it did not carry the command out."""
    if answer.get("ok") is False:
        raise HTTPException(409, str(answer.get("error", "the leader did not carry the command out")))
    return answer


def _add_health_routes(router: APIRouter) -> None:
    """``livez`` and ``readyz``: what probes, load balancers and the deploy's readiness gate ask."""

    @router.get("/livez", summary="Liveness: this web worker answers (no token; no data)", tags=["health"])
    def livez() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        summary="Readiness: this app's scheduler runs on this host (leader, standby or disabled); else 503",
        tags=["health"],
        responses={
            503: {"description": "no scheduler of this app runs on this host, or another app holds its namespace"}
        },
    )
    def readyz() -> JSONResponse:
        # No token: a load balancer or a probe asks it. The reason names no job and no path.
        ok, reason = _answer(operations().ready, *_whose())
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "reason": reason}, status_code=200 if ok else 503
        )


def scheduler_router() -> APIRouter:
    """Status, jobs, history and commands; plus the status page at the router's root."""
    router = APIRouter(tags=["scheduler"], route_class=_NoSniffingRoute)

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    def status_page() -> HTMLResponse:
        # The page holds no data (it fetches it with the token the operator types), so it is served to anyone.
        return HTMLResponse(_page(), headers=_page_headers())

    _add_health_routes(router)

    # JSONResponse: the documents are plain JSON already, and FastAPI's encoder is slow on
    # thousands of jobs.
    reader = [Depends(require_reader)]

    @router.get("/status", dependencies=reader, summary="Scheduler state on this host and in the cluster")
    def scheduler_status() -> JSONResponse:
        return JSONResponse(_answer(operations().status, *_whose()))

    @router.get(
        "/overview",
        dependencies=reader,
        summary="Status, jobs and the latest runs across jobs in one answer (what the status page shows)",
    )
    def overview() -> JSONResponse:
        return JSONResponse(_answer(operations().overview, *_whose()))

    @router.get("/jobs", dependencies=reader, summary="Jobs with next and last runs")
    def list_jobs() -> JSONResponse:
        return JSONResponse(_answer(operations().jobs))

    @router.get("/jobs/{job_id}", dependencies=reader, summary="One job with its recent runs")
    def get_job(job_id: str, limit: Annotated[int, Query(ge=1, le=1000)] = 20) -> dict[str, Any]:
        return dict(_answer(operations().job, job_id, limit))

    admin = [Depends(require_admin)]

    @router.post("/jobs/{job_id}/run", dependencies=admin, summary="Run a job once now, on the leader")
    def run_job(job_id: str) -> dict[str, Any]:
        return _carried_out(_answer(operations().send, "run", job_id))

    @router.post("/jobs/{job_id}/pause", dependencies=admin, summary="Pause a job (persists across restarts)")
    def pause_job(job_id: str) -> dict[str, Any]:
        return _carried_out(_answer(operations().send, "pause", job_id))

    @router.post("/jobs/{job_id}/resume", dependencies=admin, summary="Resume a paused job")
    def resume_job(job_id: str) -> dict[str, Any]:
        return _carried_out(_answer(operations().send, "resume", job_id))

    return router


def metrics_router() -> APIRouter:
    """``GET /metrics`` in Prometheus format: this master's scheduler, whichever worker answers."""
    router = APIRouter(tags=["metrics"], route_class=_NoSniffingRoute)

    @router.get("/metrics", dependencies=[Depends(require_reader)], summary="Prometheus metrics of the scheduler")
    def metrics() -> Response:
        return Response(_answer(operations().metrics, _master_pid()), media_type=CONTENT_TYPE_LATEST)

    return router
