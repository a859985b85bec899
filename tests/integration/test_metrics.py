"""The metrics users alert on, against a real gunicorn host; the shipped alert rules and dashboard."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from redis_support import RedisServer
from support import ROOT, Host, HostFactory, read_fires, wait_for

TOKEN = "test-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _scrape(host: Host) -> str:
    return httpx.get(f"http://127.0.0.1:{host.port}/metrics", timeout=5).text


def _value(text: str, series: str) -> float | None:
    """The sample of one series, written as in the exposition format (labels sorted by name)."""
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


def _all_positive(host: Host, wanted: tuple[str, ...]) -> str | None:
    text = _scrape(host)
    return text if all((_value(text, series) or 0) > 0 for series in wanted) else None


def test_per_job_metrics_show_successes_failures_skips_misses_and_survive_a_runner_restart(
    hosts: HostFactory, redis_server: RedisServer
) -> None:
    env = {"SCHEDULER_REDIS_URL": redis_server.url, "SCHEDULER_LEASE_TTL": "1", "SCHEDULER_ADMIN_TOKEN": TOKEN}
    host = hosts(jobs="alerting:jobs", env=env).start_and_wait()
    wanted = (
        'scheduler_job_last_success_timestamp_seconds{job="tick"}',
        'scheduler_job_last_failure_timestamp_seconds{job="boom"}',
        'scheduler_fires_skipped_total{job="hog",reason="coalesced"}',
        'scheduler_fires_missed_total{job="lagger"}',
    )
    text = wait_for(lambda: _all_positive(host, wanted), 30, "a success, a failure, a skipped and a missed fire")
    assert "_created" not in text
    assert _value(text, 'scheduler_job_last_success_timestamp_seconds{job="boom"}') is None  # never succeeded
    assert _value(text, 'scheduler_mode_info{mode="cluster",node="node-a"}') == 1.0
    assert _value(text, 'scheduler_redis_up{node="node-a"}') == 1.0
    assert _value(text, 'scheduler_job_interval_seconds{job="tick"}') == 1.0
    for declared in ("scheduler_fire_retries_total", "scheduler_fire_timeouts_total"):
        assert f"# TYPE {declared} counter" in text
    wait_for(lambda: _value(_scrape(host), 'scheduler_jobs_running{job="hog"}') == 1.0, 10, "hog counted as running")
    started = _value(text, 'scheduler_runner_start_timestamp_seconds{node="node-a"}')
    assert started

    # Pause tick, then kill the runner: its successor seeds tick's last success from the ledger.
    response = httpx.post(f"http://127.0.0.1:{host.port}/scheduler/jobs/tick/pause", headers=AUTH, timeout=10)
    assert response.json()["paused"] is True
    wait_for(
        lambda: _value(_scrape(host), 'scheduler_next_run_timestamp_seconds{job="tick"}') == 0.0, 10, "tick paused"
    )
    last_success = _value(_scrape(host), 'scheduler_job_last_success_timestamp_seconds{job="tick"}')
    for pid in host.runner_pids():
        os.kill(pid, signal.SIGKILL)

    def restarted() -> bool:
        response = host.get("/metrics")
        restart = _value(response.text, 'scheduler_runner_start_timestamp_seconds{node="node-a"}')
        return response.status_code == 200 and restart is not None and restart > started

    wait_for(restarted, 30, "a new runner's metrics")
    wait_for(
        lambda: _value(_scrape(host), 'scheduler_job_last_success_timestamp_seconds{job="tick"}') == last_success,
        10,
        "tick's last success seeded from the ledger after the restart",
    )


def test_a_single_host_counts_fires_skipped_over_max_instances_and_says_its_mode(hosts: HostFactory) -> None:
    host = hosts(jobs="alerting:jobs").start_and_wait()
    wanted = ('scheduler_fires_skipped_total{job="hog",reason="max_instances"}',)
    text = wait_for(lambda: _all_positive(host, wanted), 20, "hog's fires skipped while it runs")
    assert _value(text, 'scheduler_mode_info{mode="single-host",node="node-a"}') == 1.0
    assert "scheduler_redis_up{" not in text  # no Redis in this mode: declared, no series
    assert "_created" not in text


def test_fires_missed_while_no_scheduler_ran_are_counted_at_start(hosts: HostFactory) -> None:
    env = {"SCHEDULER_MISFIRE_GRACE": "1"}
    host = hosts(env=env).start_and_wait()
    wait_for(lambda: read_fires(host.fire_log), 10, "a tick")
    host.signal(signal.SIGTERM)
    host.wait_exit(15)
    stopped = time.time()
    wait_for(lambda: time.time() > stopped + 4, 6, "four seconds without a scheduler")
    again = hosts("node-a", env=env)
    again.dir, again.env = host.dir, {**host.env, "BIND": f"127.0.0.1:{again.port}", "KIT_TEST_ID": again.marker}
    again.log_path = host.dir / "gunicorn-2.log"
    again.start_and_wait()
    again.wait_log("were missed while no scheduler ran")
    missed = wait_for(
        lambda: _value(_scrape(again), 'scheduler_fires_missed_total{job="tick"}'), 10, "the missed ticks counted"
    )
    assert missed >= 3  # 4 s and more without a scheduler, 1 s of grace


PROMETHEUS = ROOT / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed: `make deps` installs it (Debian package prometheus)"
)


@needs_promtool
def test_the_shipped_alert_rules_pass_promtools_checks_and_unit_tests() -> None:
    assert PROMTOOL is not None
    for args in (["check", "rules", "scheduler-alerts.yml"], ["test", "rules", "scheduler-alerts.test.yml"]):
        result = subprocess.run([PROMTOOL, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"promtool {' '.join(args)}:\n{result.stdout}\n{result.stderr}"


def _exported_names() -> set[str]:
    """Every series name the runner's registry declares (a histogram's _bucket, _sum and _count too)."""
    from prometheus_client import generate_latest

    from scheduler_proc.runner.metrics import Metrics

    names = set()
    for line in generate_latest(Metrics("n").registry).decode().splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names |= {name, f"{name}_bucket", f"{name}_sum", f"{name}_count"} if kind == "histogram" else {name}
    return names


def _queries(node: object) -> list[str]:
    """The PromQL of a Grafana dashboard: panel targets and template variables."""
    if isinstance(node, dict):
        found = [node["expr"]] if isinstance(node.get("expr"), str) else []
        if isinstance(node.get("definition"), str):
            found.append(node["definition"])
        return found + [query for value in node.values() for query in _queries(value)]
    if isinstance(node, list):
        return [query for value in node for query in _queries(value)]
    return []


METRIC_NAME = re.compile(r"\bscheduler_[a-z_]+\b")


def test_the_dashboard_and_the_rules_name_only_metrics_the_kit_exports() -> None:
    exported = _exported_names()
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "scheduler.json").read_text())
    queries = _queries(dashboard)
    assert len(queries) >= 10
    for query in queries:
        names = METRIC_NAME.findall(query)
        assert names, f"a dashboard query names no scheduler metric: {query}"
        assert set(names) <= exported, f"{set(names) - exported} not exported, in the dashboard's {query}"
    rules = (PROMETHEUS / "scheduler-alerts.yml").read_text()
    assert set(METRIC_NAME.findall(rules)) <= exported, set(METRIC_NAME.findall(rules)) - exported
    assert {"scheduler_fire_retries_total", "scheduler_fire_timeouts_total"} <= exported


@needs_promtool
def test_the_dashboards_queries_parse(tmp_path: Path) -> None:
    """promtool parses each panel's query as a recording rule (with the template variable filled in)."""
    assert PROMTOOL is not None
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "scheduler.json").read_text())
    queries = [query for query in _queries(dashboard) if not query.startswith("label_values(")]  # Grafana's own
    rules = [
        {"record": f"dashboard:query_{index}", "expr": query.replace("$job", ".+")}
        for index, query in enumerate(queries)
    ]
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))  # JSON is YAML
    result = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
