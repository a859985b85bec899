"""The kit's HTTP routes (scheduler_proc/web/routes.py) through FastAPI's TestClient, against a host
lock and a status file written by the test: answers, status codes, tokens and headers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from support import job_row, leader_status

from scheduler_proc.coordination.local.hostlock import HostLock
from scheduler_proc.formats.vocabulary import Role
from scheduler_proc.settings import Settings
from scheduler_proc.status import write_status
from scheduler_proc.web import routes

MASTER = 4243
ADMIN, READER = "a" * 24, "r" * 24


def _client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> TestClient:
    """An app with the router under /scheduler; its settings from this environment only."""
    (tmp_path / "lock").mkdir(mode=0o700, exist_ok=True)
    environment = {
        "SCHEDULER_LOCK_DIR": str(tmp_path / "lock"),
        "SCHEDULER_STATE_DIR": str(tmp_path / "state"),
        "SCHEDULER_NODE_ID": "web-1",
        **env,
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    routes.operations.cache_clear()  # one Operations per process, made from the environment on first use
    app = FastAPI()
    app.include_router(routes.scheduler_router(), prefix="/scheduler")
    return TestClient(app)


@pytest.fixture(autouse=True)
def _fresh_operations() -> Iterator[None]:
    yield
    routes.operations.cache_clear()


@contextlib.contextmanager
def _scheduler(tmp_path: Path, role: str) -> Iterator[None]:
    """A scheduler of this app holds the host lock and has published a status with one job."""
    (tmp_path / "lock").mkdir(mode=0o700, exist_ok=True)
    settings = Settings.from_env({"SCHEDULER_LOCK_DIR": str(tmp_path / "lock")})
    lock = HostLock(settings.lock_path, "web-1", master_pid=MASTER)
    assert lock.try_acquire()
    document = leader_status([job_row("t", "every 1s")], node="web-1", master_pid=MASTER, role=cast(Role, role))
    write_status(settings.status_path(MASTER), document)
    try:
        yield
    finally:
        lock.release()


@pytest.fixture
def leader(tmp_path: Path) -> Iterator[None]:
    with _scheduler(tmp_path, "leader"):
        yield


def test_livez_answers_with_no_scheduler_and_no_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    answer = _client(tmp_path, monkeypatch, SCHEDULER_READ_TOKEN=READER).get("/scheduler/livez")
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}
    assert answer.headers["x-content-type-options"] == "nosniff" and answer.headers["cache-control"] == "no-store"


def test_readyz_is_503_without_a_scheduler_and_200_with_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client = _client(tmp_path, monkeypatch)
    answer = client.get("/scheduler/readyz")
    assert answer.status_code == 503 and answer.json()["status"] == "not ready"
    with _scheduler(tmp_path, "standby"):
        answer = client.get("/scheduler/readyz")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "ready", "reason": "the scheduler on this host is standby"}


def test_status_and_jobs_come_from_the_status_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, leader: None
) -> None:
    client = _client(tmp_path, monkeypatch)
    status = client.get("/scheduler/status").json()
    assert (status["role"], status["node"], status["leader_node"]) == ("leader", "web-1", "web-1")
    assert [row["id"] for row in client.get("/scheduler/jobs").json()] == ["t"]
    missing = client.get("/scheduler/jobs/nope")
    assert missing.status_code == 404 and "unknown job 'nope'" in missing.text


def test_the_read_token_guards_reading_and_the_admin_token_also_opens_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, leader: None
) -> None:
    client = _client(tmp_path, monkeypatch, SCHEDULER_READ_TOKEN=READER, SCHEDULER_ADMIN_TOKEN=ADMIN)
    refused = client.get("/scheduler/status")
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert client.get("/scheduler/status", headers={"Authorization": "Bearer wrong"}).status_code == 401
    for token in (READER, ADMIN):
        assert client.get("/scheduler/status", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_commands_are_disabled_without_an_admin_token_and_need_it_when_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, leader: None
) -> None:
    answer = _client(tmp_path, monkeypatch).post("/scheduler/jobs/t/pause")
    assert answer.status_code == 403 and "set SCHEDULER_ADMIN_TOKEN" in answer.text
    client = _client(tmp_path, monkeypatch, SCHEDULER_ADMIN_TOKEN=ADMIN)
    assert client.post("/scheduler/jobs/t/pause").status_code == 401
    assert client.post("/scheduler/jobs/t/pause", headers={"Authorization": f"Bearer {READER}"}).status_code == 401


def test_the_status_page_is_served_to_anyone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    answer = _client(tmp_path, monkeypatch, SCHEDULER_READ_TOKEN=READER).get("/scheduler/")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
