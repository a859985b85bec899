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
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel
from starlette.routing import Match
from starlette.types import Receive, Scope, Send

from scheduler_proc.errors import (
    LedgerError,
    LockDirError,
    NoAnswer,
    NoScheduler,
    RedisConfigError,
    RedisUnavailable,
    StoreConfigError,
    StoreUnavailable,
    UnknownJob,
)
from scheduler_proc.master.lifespan import managed_by_gunicorn_hooks
from scheduler_proc.redact import redact, redact_document
from scheduler_proc.settings import Settings
from scheduler_proc.web import models
from scheduler_proc.web.answers import job_answer, status_answer
from scheduler_proc.web.api_errors import NOT_READY, ApiError, declared, error_answer
from scheduler_proc.web.ops import Operations

_bearer = HTTPBearer(auto_error=False, description="SCHEDULER_ADMIN_TOKEN or SCHEDULER_READ_TOKEN")
log = logging.getLogger("scheduler.web")


@functools.lru_cache(maxsize=1)
def operations() -> Operations:
    """One per worker process, created on first use (after gunicorn forked the worker).

    A Redis client that cannot be made (SCHEDULER_REDIS_CLUSTER=true against a plain Redis)
    answers 503 like an unreachable Redis, and is tried again on the next request.
    """
    made: Operations = _answer(Operations, Settings.from_env())
    return made


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
        raise ApiError(
            403,
            "admin_disabled",
            "admin endpoints are disabled: set SCHEDULER_ADMIN_TOKEN on the server to enable them",
        )
    if not _matches(credentials, token):
        raise ApiError(401, "unauthorized", "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})


def require_reader(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    """With SCHEDULER_READ_TOKEN set, reading needs it (or the admin token); without, reading is open."""
    settings = operations().settings
    if settings.read_token is None:
        return
    if not _matches(credentials, settings.read_token) and not (
        settings.admin_token is not None and _matches(credentials, settings.admin_token)
    ):
        raise ApiError(
            401,
            "unauthorized",
            "missing or wrong bearer token (SCHEDULER_READ_TOKEN)",
            headers={"WWW-Authenticate": "Bearer"},
        )


def _matches(credentials: HTTPAuthorizationCredentials | None, token: str) -> bool:
    return credentials is not None and hmac.compare_digest(credentials.credentials.encode(), token.encode())


def _answer(call: Any, *args: Any) -> Any:
    """``call``'s document with every known secret masked (a job's error text, a job id), or the HTTP error."""
    try:
        return redact_document(call(*args))
    except UnknownJob as exc:
        raise ApiError(404, "unknown_job", redact(str(exc))) from None
    except NoScheduler as exc:
        raise ApiError(503, "no_scheduler", redact(str(exc))) from None
    except NoAnswer as exc:
        raise ApiError(504, "no_answer", redact(str(exc))) from None
    except (StoreUnavailable, StoreConfigError) as exc:
        # Connection details stay in the server's log, not in an answer anyone may read.
        log.warning("answering 503: %s", exc)
        if isinstance(exc, (RedisUnavailable, RedisConfigError)):
            raise ApiError(
                503, "redis_unavailable", "the scheduler's Redis cannot be reached; the server's log says more"
            ) from None
        raise ApiError(
            503, "store_unavailable", "the scheduler's PostgreSQL cannot be reached; the server's log says more"
        ) from None
    except LedgerError as exc:
        log.warning("answering 503: %s", exc)
        raise ApiError(
            503,
            "ledger_unreadable",
            f"the scheduler's ledger cannot be read: {exc.summary}; the server's log says more",
        ) from None
    except LockDirError as exc:
        log.warning("answering 503: %s", exc)
        raise ApiError(
            503, "files_untrusted", "the scheduler's files on this host are not trusted; the server's log says why"
        ) from None


#: On every answer of the kit's routers: the content type is what it says, and no cache (the
#: browser's or a shared one) keeps what a token fetched.
_EVERY_ANSWER = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


class _KitRoute(APIRoute):
    """Every answer of the routers, refusals too, carries ``_EVERY_ANSWER``; every refusal is the
    kit's error body (``detail`` and ``code``, see :mod:`scheduler_proc.web.api_errors`), answered
    here rather than by the app's handler (which knows no ``code``); a request refused as
    invalid (422) is answered with every known secret masked (FastAPI's answer quotes the
    input, which may be a token sent in the wrong place).

    Set on the response the endpoint made: a header set by a dependency is dropped when the
    endpoint returns its own Response, as the JSON routes here do.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def with_headers(request: Request) -> Response:
            try:
                response = await handler(request)
            except HTTPException as exc:
                return error_answer(exc, _EVERY_ANSWER)
            except RequestValidationError as exc:
                response = _invalid_request(exc)
            response.headers.update(_EVERY_ANSWER)
            return response

        return with_headers


def _invalid_request(exc: RequestValidationError) -> JSONResponse:
    """422 with the error body: each invalid part in ``errors``, every known secret masked."""
    errors = [
        {
            "loc": list(error.get("loc", ())),
            "msg": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
            "input": None if error.get("input") is None else str(error["input"]),
        }
        for error in jsonable_encoder(exc.errors())
    ]
    detail = "; ".join(f"{'.'.join(str(part) for part in error['loc'] or ())}: {error['msg']}" for error in errors)
    body = {"detail": detail or "invalid request", "code": "invalid_request", "errors": errors}
    return JSONResponse(redact_document(body), status_code=422)


class _PageRoute(_KitRoute):
    """The page at the router's root, also when asked for without its slash (``/scheduler``).

    Starlette would redirect that itself, to an absolute URL built from the Host header
    (``http://`` behind a TLS proxy, or any host the client names); this redirects to
    ``./scheduler/``, relative to where the client is, whatever the prefix and proxy.
    """

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is Match.NONE and self._without_slash(scope):
            return Match.FULL, {"endpoint": self.endpoint, "path_params": {}}
        return match, child

    def _without_slash(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope["path"].endswith("/"):
            return False
        match, _ = super().matches({**scope, "path": scope["path"] + "/"})
        return match is Match.FULL

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._without_slash(scope):
            segment = scope["path"].rsplit("/", 1)[-1]
            await RedirectResponse(f"./{segment}/", status_code=307, headers=_EVERY_ANSWER)(scope, receive, send)
            return
        await super().handle(scope, receive, send)


def _answer_head(router: APIRouter) -> None:
    """HEAD wherever GET (FastAPI's routes answer only the methods they name: HEAD got 405).

    A twin route per GET, left out of the OpenAPI schema; the server sends no body for HEAD.
    """
    for route in list(router.routes):
        if isinstance(route, APIRoute) and route.methods == {"GET"}:
            router.add_api_route(
                route.path,
                route.endpoint,
                methods=["HEAD"],
                dependencies=route.dependencies,
                response_class=route.response_class,
                include_in_schema=False,
                name=f"{route.name}_head",
                route_class_override=type(route),
            )


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
    }


def _carried_out(answer: dict[str, Any]) -> dict[str, Any]:
    """The leader's answer, or 409 with its reason when it did not carry the command out."""
    if answer.get("ok") is False:
        raise ApiError(409, "command_refused", str(answer.get("error", "the leader did not carry the command out")))
    return answer


def _add_health_routes(router: APIRouter) -> None:
    """``livez`` and ``readyz``: what probes, load balancers and the deploy's readiness gate ask."""

    @router.get(
        "/livez",
        summary="Liveness: this web worker answers (no token; no data)",
        tags=["health"],
        response_model=models.Liveness,
    )
    def livez() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @router.get(
        "/readyz",
        summary="Readiness: this app's scheduler runs on this host (leader, standby or disabled); else 503",
        tags=["health"],
        response_model=models.Readiness,
        responses=NOT_READY,
    )
    def readyz() -> JSONResponse:
        # No token: a load balancer or a probe asks it. The reason names no job and no path.
        try:
            ok, reason = _answer(operations().ready, *_whose())
        except ApiError as exc:  # Redis, ledger, files: the same document as any other "not ready"
            ok, reason, code = False, str(exc.detail), exc.code
        else:
            code = "not_ready"
        if ok:
            return JSONResponse({"status": "ready", "reason": reason})
        return JSONResponse({"status": "not ready", "reason": reason, "detail": reason, "code": code}, status_code=503)


_COMMANDS = {
    "run": "Run a job once now, on the leader",
    "pause": "Pause a job (persists across restarts)",
    "resume": "Resume a paused job",
}


def _add_command_routes(router: APIRouter) -> None:
    """``POST jobs/{job_id}/run``, ``pause`` and ``resume``: admin only, carried out by the leader."""
    for action, summary in _COMMANDS.items():
        router.add_api_route(
            f"/jobs/{{job_id}}/{action}",
            _command(action),
            methods=["POST"],
            dependencies=[Depends(require_admin)],
            summary=summary,
            name=f"{action}_job",
            response_model=models.CommandAnswer,
            responses=declared(401, 403, 404, 409, 422, 503, 504),
        )


def _command(action: str) -> Callable[[str], JSONResponse]:
    def command(job_id: str) -> JSONResponse:
        return JSONResponse(_carried_out(_answer(operations().send, action, job_id)))

    return command


def _reading(
    router: APIRouter, path: str, model: type[BaseModel], summary: str, *errors: int
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A GET route that needs the read token (when set), answers ``model``, and may answer 401,
    503 and ``errors``."""
    return router.get(
        path,
        dependencies=[Depends(require_reader)],
        summary=summary,
        response_model=model,
        responses=declared(401, 503, *errors),
    )


def scheduler_router() -> APIRouter:
    """Status, jobs, history and commands; plus the status page at the router's root."""
    router = APIRouter(tags=["scheduler"], route_class=_KitRoute)

    def status_page() -> HTMLResponse:
        # The page holds no data (it fetches it with the token the operator types), so it is served to anyone.
        return HTMLResponse(_page(), headers=_page_headers())

    router.add_api_route(
        "/", status_page, response_class=HTMLResponse, include_in_schema=False, route_class_override=_PageRoute
    )

    _add_health_routes(router)

    # JSONResponse: the documents are plain JSON already, and FastAPI's encoder is slow on
    # thousands of jobs. The models only declare them (tests/test_api_schema.py holds them to it).
    @_reading(router, "/status", models.Status, "Scheduler state on this host and in the cluster")
    def scheduler_status() -> JSONResponse:
        return JSONResponse(status_answer(_answer(operations().status, *_whose())))

    @_reading(
        router,
        "/overview",
        models.Overview,
        "Status, jobs and the latest runs across jobs in one answer (what the status page shows)",
    )
    def overview() -> JSONResponse:
        return JSONResponse(status_answer(_answer(operations().overview, *_whose())))

    @_reading(router, "/jobs", models.JobList, "Jobs with next and last runs")
    def list_jobs() -> JSONResponse:
        return JSONResponse(_answer(operations().jobs))

    @_reading(router, "/jobs/{job_id}", models.JobDetail, "One job with its recent runs", 404, 422)
    def get_job(job_id: str, limit: Annotated[int, Query(ge=1, le=1000)] = 20) -> JSONResponse:
        return JSONResponse(job_answer(_answer(operations().job, job_id, limit)))

    _add_command_routes(router)
    _answer_head(router)
    return router


class _PrometheusText(Response):
    """``/metrics``'s class for OpenAPI: no media type of its own, so its 200 is declared
    ``text/plain`` alone and its errors ``application/json`` (a class with a media type lends it
    to every status it declares). The endpoint answers with its own Response."""

    media_type = None


def metrics_router() -> APIRouter:
    """``GET /metrics`` in Prometheus format: this master's scheduler, whichever worker answers."""
    router = APIRouter(tags=["metrics"], route_class=_KitRoute)

    @router.get(
        "/metrics",
        dependencies=[Depends(require_reader)],
        summary="Prometheus metrics of the scheduler",
        response_class=_PrometheusText,
        responses={
            200: {
                "description": "the Prometheus text exposition format",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
            **declared(401, 503),
        },
    )
    def metrics() -> Response:
        return Response(_answer(operations().metrics, _master_pid()), media_type=CONTENT_TYPE_LATEST)

    _answer_head(router)
    return router
