"""API, commands to the leader, history, pauses, metrics, CLI and JSON logs, against real gunicorn."""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import datetime
from functools import partial
from typing import Any

import httpx
from fastapi import FastAPI
from redis_support import RedisServer
from stores import ClusterStore
from support import Host, HostFactory, leader_of, read_fires, wait_for

from scheduler_proc import metrics_router, scheduler_router

TOKEN = "test-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _post(host: Host, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"http://127.0.0.1:{host.port}{path}", headers=headers or {}, timeout=10)


def _cluster(hosts: HostFactory, store_env: dict[str, str], count: int = 2) -> list[Host]:
    nodes = [
        hosts(
            f"node-{i}",
            jobs="reports:jobs",
            env={**store_env, "SCHEDULER_LEASE_TTL": "1", "SCHEDULER_ADMIN_TOKEN": TOKEN},
        )
        for i in range(count)
    ]
    for node in nodes:
        node.start()
    for node in nodes:
        wait_for(partial(node.in_role, "leader", "standby"), 20, f"{node.name} up")
    return nodes


def _leader_past_the_floor(nodes: list[Host]) -> Host:
    """The leader, once it has run a tick: a fresh namespace refuses runs scheduled before its floor
    (up to SCHEDULER_MAX_CLOCK_OFFSET past the first term), so a run sent earlier is answered 409."""
    leader = leader_of(nodes)
    wait_for(lambda: read_fires(leader.fire_log), 10, "a tick past the new namespace's floor")
    return leader


def test_admin_endpoints_need_the_token_and_say_so_when_disabled(hosts: HostFactory) -> None:
    disabled = hosts("node-a", jobs="reports:jobs").start_and_wait()
    response = _post(disabled, "/scheduler/jobs/report/run", AUTH)
    assert response.status_code == 403 and "set SCHEDULER_ADMIN_TOKEN" in response.json()["detail"]
    enabled = hosts("node-b", jobs="reports:jobs", env={"SCHEDULER_ADMIN_TOKEN": TOKEN}).start_and_wait()
    assert _post(enabled, "/scheduler/jobs/report/pause").status_code == 401
    wrong = _post(enabled, "/scheduler/jobs/report/pause", {"Authorization": "Bearer not-the-token-at-all"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert _post(enabled, "/scheduler/jobs/nope/pause", AUTH).status_code == 404
    assert enabled.get("/scheduler/jobs/nope").status_code == 404
    assert _post(enabled, "/scheduler/jobs/report/pause", AUTH).json()["paused"] is True
    # The demo app serves no /openapi.json (docs/security.md); the routers' schema as an app that serves one has it.
    assert enabled.get("/openapi.json").status_code == 404
    documented = FastAPI()
    documented.include_router(scheduler_router(), prefix="/scheduler")
    documented.include_router(metrics_router())
    paths = documented.openapi()["paths"]
    for path in (
        "/scheduler/status",
        "/scheduler/overview",
        "/scheduler/jobs",
        "/scheduler/jobs/{job_id}",
        "/scheduler/jobs/{job_id}/run",
        "/scheduler/jobs/{job_id}/pause",
        "/scheduler/jobs/{job_id}/resume",
        "/metrics",
    ):
        assert path in paths, path
    assert paths["/scheduler/jobs/{job_id}/run"]["post"]["security"] == [{"HTTPBearer": []}]


def test_every_answer_says_nosniff_and_the_page_sends_its_policies(hosts: HostFactory) -> None:
    """JSON answers (returned as their own Response objects), metrics and the page all carry nosniff."""
    host = hosts("node-a", jobs="reports:jobs").start_and_wait()
    for path in (
        "/scheduler/",
        "/scheduler/status",
        "/scheduler/overview",
        "/scheduler/jobs",
        "/scheduler/jobs/report",
        "/metrics",
    ):
        response = host.get(path)
        assert response.status_code == 200, (path, response.text)
        assert response.headers.get("x-content-type-options") == "nosniff", path
    page = host.get("/scheduler/").headers
    assert page["x-frame-options"] == "DENY" and page["referrer-policy"] == "no-referrer"
    assert page["content-security-policy"].startswith("default-src 'none'; script-src 'sha256-")


def test_run_now_sent_to_a_non_leader_runs_exactly_once_on_the_leader(hosts: HostFactory, store: ClusterStore) -> None:
    nodes = _cluster(hosts, store.env())
    leader = _leader_past_the_floor(nodes)
    follower = next(n for n in nodes if n is not leader)
    [leader_runner] = leader.runner_pids()
    answer = _post(follower, "/scheduler/jobs/report/run", AUTH)
    assert answer.status_code == 200, answer.text
    run_id = answer.json()["run_id"]
    wait_for(lambda: any(f.get("run_id") == run_id for f in read_fires(leader.fire_log)), 10, "the manual run")
    wait_for(
        lambda: any(r["run_id"] == run_id for r in follower.get("/scheduler/jobs/report").json()["history"]),
        10,
        "the run in the history",
    )
    runs = [f for f in read_fires(leader.fire_log) if f["job"] == "report"]
    assert len(runs) == 1 and runs[0]["pid"] == leader_runner and runs[0]["node"] == leader.name
    [record] = [r for r in follower.get("/scheduler/jobs/report").json()["history"] if r["run_id"] == run_id]
    assert record["origin"] == "manual" and record["outcome"] == "success" and record["term"] >= 1
    assert record["node"] == leader.name and record["duration"] is not None


def test_overview_is_the_status_with_the_latest_runs_of_all_jobs_and_does_without_its_store(
    hosts: HostFactory, store: ClusterStore
) -> None:
    leader = _leader_past_the_floor(_cluster(hosts, store.env(), count=1))
    answer = _post(leader, "/scheduler/jobs/report/run", AUTH)
    assert answer.status_code == 200, answer.text
    run_id = answer.json()["run_id"]

    def overview() -> dict[str, Any]:
        return dict(leader.get("/scheduler/overview", timeout=10).json())

    shown = wait_for(
        lambda: (o := overview())["recent_runs"] and any(r["run_id"] == run_id for r in o["recent_runs"]) and o,
        10,
        "the manual run among the recent runs",
    )
    status = leader.status() or {}
    assert {key for key in status if key not in ("jobs", "cluster", "updated_at")} <= set(shown)
    assert [job["id"] for job in shown["jobs"]] == [job["id"] for job in status["jobs"]] == ["tick", "report"]
    runs = shown["recent_runs"]
    assert 2 <= len(runs) <= 20 and {run["job_id"] for run in runs} == {"tick", "report"}
    started = [datetime.fromisoformat(run["started_at"]) for run in runs]  # ISO 8601 with offset (item 8)
    assert started == sorted(started, reverse=True)
    store.kill()
    without = wait_for(lambda: (o := overview())["recent_runs"] is None and o, 30, "an overview without its store")
    assert [job["id"] for job in without["jobs"]] == ["tick", "report"]
    error = f"the scheduler's {store.label} cannot be reached; the server's log says more"
    assert without["recent_runs_error"] == error
    history = leader.get("/scheduler/jobs/report", timeout=10)
    code = "redis_unavailable" if store.name == "redis" else "store_unavailable"
    assert history.status_code == 503 and history.json() == {"detail": error, "code": code}
    assert not any(url in json.dumps(without) for name, url in store.env().items() if name.endswith("_URL"))


def test_a_pause_survives_a_leader_failover(hosts: HostFactory, store: ClusterStore) -> None:
    nodes = _cluster(hosts, store.env(), count=3)
    leader = _leader_past_the_floor(nodes)
    assert _post(nodes[0], "/scheduler/jobs/tick/pause", AUTH).json()["paused"] is True
    paused = time.time()
    leader.signal(signal.SIGKILL)
    new_leader = leader_of([n for n in nodes if n is not leader])
    time_to_check = time.time() + 4
    wait_for(lambda: time.time() > time_to_check, 5, "four seconds under the new leader")
    assert not [f for f in read_fires(leader.fire_log) if f["job"] == "tick" and f["started"] > paused + 0.5]
    jobs = {job["id"]: job for job in new_leader.get("/scheduler/jobs").json()}
    assert jobs["tick"]["paused"] is True
    assert _post(new_leader, "/scheduler/jobs/tick/resume", AUTH).json()["paused"] is False
    resumed = time.time()
    wait_for(
        lambda: any(f["job"] == "tick" and f["started"] > resumed for f in read_fires(leader.fire_log)),
        5,
        "ticks after the resume",
    )


def test_scrapes_answered_by_different_workers_agree(hosts: HostFactory) -> None:
    host = hosts(
        jobs="reports:jobs", workers=4, env={"SCHEDULER_ADMIN_TOKEN": TOKEN}, extra_args=["pid_app:app"]
    ).start_and_wait()
    wait_for(lambda: len(read_fires(host.fire_log)) >= 2, 10, "ticks")
    _post(host, "/scheduler/jobs/tick/pause", AUTH)

    def published_every_fire() -> bool:
        ran = len([f for f in read_fires(host.fire_log) if f["job"] == "tick"])
        text = httpx.get(f"http://127.0.0.1:{host.port}/metrics", timeout=5).text
        # ... and the pause itself (no next run): until the publisher writes it, two scrapes a
        # moment apart may straddle that write and differ.
        paused = 'scheduler_next_run_timestamp_seconds{job="tick"} 0.0' in text
        return paused and f'scheduler_fires_total{{job="tick",outcome="success"}} {ran}.0' in text

    wait_for(published_every_fire, 10, "the metrics to count every tick that ran before the pause, and the pause")
    bodies: dict[str, str] = {}
    for _ in range(60):
        response = httpx.get(f"http://127.0.0.1:{host.port}/metrics", headers={"Connection": "close"}, timeout=5)
        bodies[response.headers["x-worker-pid"]] = response.text
        if len(bodies) >= 2:
            break
    assert len(bodies) >= 2, "every scrape was answered by the same worker"
    first, second = list(bodies.values())[:2]
    assert first == second
    assert 'scheduler_fires_total{job="tick",outcome="success"}' in first
    assert 'scheduler_is_leader{node="node-a"} 1.0' in first
    for name in (
        "scheduler_fires_refused_total",
        "scheduler_job_duration_seconds",
        "scheduler_fire_lag_seconds",
        "scheduler_leader_transitions_total",
        "scheduler_lease_renewal_failures_total",
        "scheduler_next_run_timestamp_seconds",
    ):
        assert f"# TYPE {name}" in first, name


def test_history_and_pauses_survive_a_restart_in_single_host_mode(hosts: HostFactory) -> None:
    host = hosts(jobs="reports:jobs", env={"SCHEDULER_ADMIN_TOKEN": TOKEN}).start_and_wait()
    wait_for(lambda: len(read_fires(host.fire_log)) >= 2, 10, "ticks")
    _post(host, "/scheduler/jobs/report/pause", AUTH)
    host.signal(signal.SIGTERM)
    host.wait_exit(15)
    before = {f["run_id"] for f in read_fires(host.fire_log) if f["job"] == "tick"}
    again = hosts("node-a", jobs="reports:jobs", env={"SCHEDULER_ADMIN_TOKEN": TOKEN})
    again.dir, again.env = host.dir, {**host.env, "BIND": f"127.0.0.1:{again.port}", "KIT_TEST_ID": again.marker}
    again.log_path = host.dir / "gunicorn-2.log"
    again.start_and_wait()
    history = {r["run_id"] for r in again.get("/scheduler/jobs/tick?limit=100").json()["history"]}
    assert before <= history
    jobs = {job["id"]: job for job in again.get("/scheduler/jobs").json()}
    assert jobs["report"]["paused"] is True and jobs["tick"]["paused"] is False


def test_cli_tables_json_commands_and_check_exit_codes(hosts: HostFactory) -> None:
    host = hosts(jobs="reports:jobs").start_and_wait()
    wait_for(lambda: read_fires(host.fire_log), 10, "a tick")
    status = host.cli("status")
    assert status.returncode == 0 and "node node-a: leader (single-host)" in status.stdout
    assert "ID" in status.stdout and "tick" in status.stdout and "every 1s" in status.stdout
    jobs = json.loads(host.cli("--json", "jobs").stdout)
    assert {job["id"] for job in jobs} == {"tick", "report"}
    run = host.cli("run", "report")
    assert run.returncode == 0 and "run report: ran (run id " in run.stdout, run.stderr
    runs = wait_for(lambda: json.loads(host.cli("--json", "history", "report").stdout), 10, "the report's history")
    # One time format in the CLI's JSON as in the API's: ISO 8601 with its offset (issue 25 item 8).
    assert all(datetime.fromisoformat(runs[0][name]).utcoffset() is not None for name in ("started_at", "finished_at"))
    as_json = json.loads(host.cli("--json", "status").stdout)
    assert datetime.fromisoformat(as_json["updated_at"]).utcoffset() is not None
    history = host.cli("history", "report")
    assert "manual" in history.stdout and "success" in history.stdout
    # An unknown job is exit status 2 in every command (bad usage), as `next` always answered.
    for command in (["pause", "nope"], ["run", "nope"], ["history", "nope"], ["next", "nope"]):
        unknown = host.cli(*command)
        assert unknown.returncode == 2 and "unknown job 'nope'" in unknown.stderr, (command, unknown.stderr)
    check = host.cli("check")
    assert check.returncode == 0 and check.stdout.startswith("OK: ")
    host.signal(signal.SIGTERM)
    host.wait_exit(15)
    down = host.cli("check")
    assert down.returncode == 1 and "FAIL: no scheduler runs on node node-a" in down.stdout


def test_cli_check_fails_when_the_cluster_has_no_leader(hosts: HostFactory, redis_server: RedisServer) -> None:
    [node] = _cluster(hosts, {"SCHEDULER_REDIS_URL": redis_server.url}, count=1)
    leader_of([node])
    assert node.cli("check").returncode == 0
    [runner] = node.runner_pids()
    os.kill(runner, signal.SIGSTOP)  # first: a runner still running takes the lease back at once
    try:
        redis_server.client().delete("{scheduler}:leader")  # as if the lease expired with nobody to take it
        result = node.cli("check")
        assert result.returncode == 1 and "the cluster has no leader" in result.stdout
    finally:
        os.kill(runner, signal.SIGCONT)


def test_json_log_format(hosts: HostFactory) -> None:
    host = hosts(env={"SCHEDULER_LOG_FORMAT": "json"}).start_and_wait()
    host.wait_log(r'"message": "fire end job=tick')
    lines = [json.loads(line) for line in host.output().splitlines() if line.startswith("{")]
    fire = next(line for line in lines if line["message"].startswith("fire end job=tick"))
    assert fire["logger"] == "scheduler.fire" and fire["level"] == "INFO" and fire["pid"] > 0
    # The fire's fields are keys too (issue 25 item 7), typed: a query needs no parsing of message.
    assert (fire["job_id"], fire["outcome"], fire["node"]) == ("tick", "success", "node-a"), fire
    assert isinstance(fire["duration"], float) and fire["run_id"] and fire["scheduled_at"].endswith("+00:00")
    start = next(line for line in lines if line["message"].startswith("fire start job=tick"))
    assert start["term"] is None and start["origin"] == "schedule", start
