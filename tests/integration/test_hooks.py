"""Hooks (issue 25 item 3): called in the runner process, with the run's context."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from redis_support import RedisServer
from support import HostFactory, wait_for

from scheduler_proc import JobDefinitionError, Jobs


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_hooks_see_each_fire_start_and_end_in_the_runner_and_a_broken_hook_harms_nothing(
    hosts: HostFactory, tmp_path: Path
) -> None:
    hook_log = tmp_path / "hooks.jsonl"
    host = hosts(jobs="hooked:jobs", env={"HOOK_LOG": str(hook_log)}).start_and_wait()
    failure = wait_for(lambda: [e for e in _events(hook_log) if e["event"] == "failure"][:1], 15, "a failure hook")[0]
    assert failure["job"] == "broken" and failure["outcome"] == "error", failure
    assert failure["exception"] == "KeyError" and failure["error"] == "KeyError: 'customer 42'", failure
    assert failure["pid"] in host.runner_pids(), "hooks run in the runner, where the jobs module set them up"
    run_id = failure["run_id"]
    started = [e for e in _events(hook_log) if e["event"] == "start" and e["run_id"] == run_id]
    assert len(started) == 1, "one start per fire"
    wait_for(lambda: [e for e in _events(hook_log) if e["event"] == "success" and e["job"] == "fine"], 10, "success")
    host.wait_log(r"ERROR\] scheduler\.hooks: hook careless for failure of job=broken run_id=\w+ failed")
    wait_for(lambda: len([e for e in _events(hook_log) if e["event"] == "failure"]) >= 2, 10, "fires go on")
    assert not [e for e in _events(hook_log) if e["event"] in ("timeout", "skip")]


def test_an_unknown_hook_event_is_refused_at_import() -> None:
    with pytest.raises(JobDefinitionError, match=r"hook event 'fail' is unknown; use one of start, success, failure"):
        Jobs().hook("fail")  # type: ignore[arg-type]  # on purpose: an event the types refuse too


def test_one_opentelemetry_span_per_fire_from_the_runner(
    hosts: HostFactory, tmp_path: Path, redis_server: RedisServer
) -> None:
    pytest.importorskip("opentelemetry.sdk", reason="the test extra installs opentelemetry-sdk")
    span_log = tmp_path / "spans.jsonl"
    env = {"SPAN_LOG": str(span_log), "SCHEDULER_REDIS_URL": redis_server.url, "SCHEDULER_LEASE_TTL": "2"}
    hosts(jobs="traced:jobs", env=env).start_and_wait()
    ok = wait_for(lambda: [s for s in _events(span_log) if s["name"] == "fire traced"][:1], 15, "a span")[0]
    attributes = ok["attributes"]
    assert attributes["scheduler.job_id"] == "traced" and attributes["scheduler.outcome"] == "success", ok
    assert isinstance(attributes["scheduler.fencing_token"], int) and attributes["scheduler.node"] == "node-a"
    assert attributes["scheduler.scheduled_at"].endswith("+00:00") and attributes["scheduler.attempts"] == 1
    failed = wait_for(lambda: [s for s in _events(span_log) if s["name"] == "fire traced-failing"][:1], 15, "")[0]
    assert failed["status"] == "ERROR" and failed["attributes"]["scheduler.outcome"] == "error", failed
