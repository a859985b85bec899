"""The typed HTTP API (issue 25 item 8): OpenAPI schemas for every route and error, the error body
with its ``code``, one time format; checked on the OpenAPI document and on a real host's answers."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import BaseModel
from stores import ClusterStore
from support import Host, HostFactory, read_fires, wait_for

from scheduler_proc import metrics_router, scheduler_router
from scheduler_proc.web import models
from scheduler_proc.web.api_errors import CODES

TOKEN = "test-admin-token-0123456789"
READ = "test-read-token-0123456789"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"

#: Every route of the two routers and the error statuses it may answer.
ERRORS = {
    ("get", "/scheduler/livez"): set(),
    ("get", "/scheduler/readyz"): {"503"},
    ("get", "/scheduler/status"): {"401", "503"},
    ("get", "/scheduler/overview"): {"401", "503"},
    ("get", "/scheduler/jobs"): {"401", "503"},
    ("get", "/scheduler/jobs/{job_id}"): {"401", "404", "422", "503"},
    **{
        ("post", f"/scheduler/jobs/{{job_id}}/{action}"): {"401", "403", "404", "409", "422", "503", "504"}
        for action in ("run", "pause", "resume")
    },
    ("get", "/metrics"): {"401", "503"},
}


def _openapi() -> dict[str, Any]:
    app = FastAPI()
    app.include_router(scheduler_router(), prefix="/scheduler")
    app.include_router(metrics_router())
    return app.openapi()


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair at any depth of a JSON document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _resolved(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return document["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else schema


def test_every_route_has_a_schema_for_its_answer_and_declares_its_errors() -> None:
    document = _openapi()
    operations = {(method, path): op for path, ops in document["paths"].items() for method, op in ops.items()}
    assert set(operations) == set(ERRORS)
    for key, operation in operations.items():
        responses = operation["responses"]
        assert set(responses) == {"200", *ERRORS[key]}, key
        [(media, content)] = responses["200"]["content"].items()
        schema = _resolved(document, content["schema"])
        assert schema and (schema.get("properties") or schema.get("items") or schema == {"type": "string"}), key
        assert media == ("text/plain" if key[1] == "/metrics" else "application/json"), key
        for status in ERRORS[key]:
            [(media, content)] = responses[status]["content"].items()
            error = _resolved(document, content["schema"])
            assert media == "application/json" and {"detail", "code"} <= set(error["required"]), (key, status)
    # No blob a client generator cannot type, no schema that says nothing.
    assert ("additionalProperties", True) not in list(_walk(document))
    assert not [key for key, value in _walk(document) if key == "schema" and value == {}]


def test_every_error_code_is_in_the_docs_table() -> None:
    table = set(re.findall(r"^\| `([a-z_]+)` \|", DOCS.read_text(), re.M))
    assert set(CODES) <= table, set(CODES) - table


def _times(document: Any) -> list[str]:
    """Every time in an answer: the ``*_at`` fields and the next fires."""
    found = []
    for key, value in _walk(document):
        if key.endswith("_at") and value is not None:
            found.append(value)
        elif key == "next_fires":
            found += value
    return found


def _iso_with_offset(value: Any) -> bool:
    return isinstance(value, str) and datetime.fromisoformat(value).utcoffset() is not None


def _valid(model: type[BaseModel], answer: httpx.Response) -> Any:
    """The answer's JSON, which has the declared model's fields and no other."""
    assert answer.status_code == 200, answer.text
    document = answer.json()
    model.model_validate(document)  # extra="forbid": a field the model lacks fails here
    times = _times(document)
    assert all(_iso_with_offset(value) for value in times), times
    return document


def _error(answer: httpx.Response, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    models.Error.model_validate(body)
    assert body["code"] == code and body["detail"], body


def test_a_cluster_hosts_answers_match_their_models_with_iso_times(hosts: HostFactory, store: ClusterStore) -> None:
    env = {**store.env(), "SCHEDULER_ADMIN_TOKEN": TOKEN, "SCHEDULER_READ_TOKEN": READ}
    host: Host = hosts(jobs="reports:jobs", env=env).start()
    auth = {"Authorization": f"Bearer {READ}"}
    admin = {"Authorization": f"Bearer {TOKEN}"}

    def role() -> str | None:
        try:
            return str(host.get("/scheduler/status", headers=auth).json().get("role"))
        except httpx.HTTPError:
            return None

    wait_for(lambda: role() == "leader", 20, "a leader")
    wait_for(lambda: read_fires(host.fire_log), 10, "a tick past the new namespace's floor")

    def post(path: str, headers: dict[str, str]) -> httpx.Response:
        return httpx.post(f"http://127.0.0.1:{host.port}{path}", headers=headers, timeout=10)

    ran = _valid(models.CommandAnswer, post("/scheduler/jobs/report/run", admin))
    assert ran["ok"] is True and _iso_with_offset(ran["scheduled_at"]), ran
    status = _valid(models.Status, host.get("/scheduler/status", headers=auth))
    assert status["mode"] == "cluster" and _iso_with_offset(status["updated_at"]), status
    assert _iso_with_offset(status["cluster"]["last_renewal_at"]), status["cluster"]
    assert status["cluster"]["store"] == store.name and status["cluster"]["store_state"] == "ok", status["cluster"]
    overview = wait_for(
        lambda: (o := host.get("/scheduler/overview", headers=auth, timeout=10).json())["recent_runs"] and o,
        10,
        "recent runs",
    )
    models.Overview.model_validate(overview)
    assert all(_iso_with_offset(value) for value in _times(overview))
    assert all(_iso_with_offset(run["started_at"]) for run in overview["recent_runs"]), overview["recent_runs"]
    _valid(models.JobList, host.get("/scheduler/jobs", headers=auth))
    job = _valid(models.JobDetail, host.get("/scheduler/jobs/tick?limit=5", headers=auth))
    assert job["history"] and all(_iso_with_offset(run["finished_at"]) for run in job["history"][1:]), job
    _valid(models.CommandAnswer, post("/scheduler/jobs/report/pause", admin))
    _valid(models.CommandAnswer, post("/scheduler/jobs/report/resume", admin))
    _valid(models.Liveness, host.get("/scheduler/livez"))
    _valid(models.Readiness, host.get("/scheduler/readyz"))
    metrics = host.get("/metrics", headers=auth)
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain"), metrics

    _error(host.get("/scheduler/status"), 401, "unauthorized")
    _error(host.get("/metrics"), 401, "unauthorized")
    _error(post("/scheduler/jobs/report/run", auth), 401, "unauthorized")
    _error(host.get("/scheduler/jobs/nope", headers=auth), 404, "unknown_job")
    _error(post("/scheduler/jobs/nope/run", admin), 404, "unknown_job")
    invalid = host.get("/scheduler/jobs/tick?limit=0", headers=auth)
    _error(invalid, 422, "invalid_request")
    assert invalid.json()["errors"][0]["loc"] == ["query", "limit"], invalid.json()
    store.kill()
    gone = wait_for(
        lambda: (a := host.get("/scheduler/jobs/tick", headers=auth, timeout=10)).status_code == 503 and a, 30, "a 503"
    )
    _error(gone, 503, "redis_unavailable" if store.name == "redis" else "store_unavailable")


def test_admin_endpoints_disabled_answer_403_and_a_stopped_scheduler_not_ready_with_their_codes(
    hosts: HostFactory,
) -> None:
    host = hosts(jobs="reports:jobs").start_and_wait()
    answer = httpx.post(
        f"http://127.0.0.1:{host.port}/scheduler/jobs/report/run", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    _error(answer, 403, "admin_disabled")
    frozen = host.supervisor_pids() + host.runner_pids()
    for pid in frozen:  # a status file no longer touched: the scheduler counts as stopped
        os.kill(pid, signal.SIGSTOP)
    try:
        ready = wait_for(lambda: (a := host.get("/scheduler/readyz")).status_code == 503 and a, 15, "readyz 503")
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
    body = ready.json()
    models.NotReady.model_validate(body)
    assert body["code"] == "not_ready" and body["status"] == "not ready" and body["detail"] == body["reason"], body
