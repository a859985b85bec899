"""Retries (issue 25 item 2): the same fire called again, with a real cluster node on a real Redis."""

from __future__ import annotations

from typing import Any

from redis_support import RedisServer
from support import Host, HostFactory, read_fires, wait_for


def _runs(host: Host, job: str) -> list[dict[str, Any]]:
    answer = host.get(f"/scheduler/jobs/{job}")
    return list(answer.json().get("history", [])) if answer.status_code == 200 else []


def _calls(host: Host, job: str, run_id: str) -> list[dict[str, Any]]:
    return [f for f in read_fires(host.fire_log) if f["job"] == job and f["run_id"] == run_id]


def test_a_failed_run_is_retried_as_the_same_fire_within_its_limits(
    hosts: HostFactory, redis_server: RedisServer
) -> None:
    host = hosts(jobs="retries:jobs", env={"SCHEDULER_REDIS_URL": redis_server.url, "SCHEDULER_LEASE_TTL": "2"})
    host.start_and_wait()

    [flaky] = wait_for(lambda: [r for r in _runs(host, "flaky") if r["outcome"] == "success"][:1], 30, "flaky")
    calls = _calls(host, "flaky", flaky["run_id"])
    assert flaky["attempts"] == 3 and len(calls) == 3, (flaky, calls)
    assert {c["term"] for c in calls} == {flaky["term"]} and flaky["term"] is not None, "one fencing token"
    assert {c["scheduled_at"] for c in calls} == {flaky["scheduled_at"]}, "one fire"
    assert len([r for r in _runs(host, "flaky") if r["run_id"] == flaky["run_id"]]) == 1, "recorded once"

    [hopeless] = wait_for(lambda: _runs(host, "hopeless")[:1], 30, "hopeless")
    assert (hopeless["outcome"], hopeless["attempts"]) == ("error", 3), hopeless
    assert hopeless["error"] == "RuntimeError: always"

    [slow] = wait_for(lambda: _runs(host, "slow")[:1], 30, "slow")
    assert (slow["outcome"], slow["attempts"]) == ("timed_out", 1), "a timeout is not retried unless asked"

    # Every 3 s, with waits of 1, 2, 4 s: the second retry would start 3 s after the fire, at the next one.
    [crowded] = wait_for(
        lambda: [r for r in _runs(host, "crowded") if r["outcome"] == "error"][:1], 30, "a crowded run to end"
    )
    assert crowded["attempts"] == 2, crowded
    host.wait_log(r"fire not retried job=crowded .*the retry would start after the job's next fire")
    host.wait_log(r"WARNING\] scheduler\.fire: fire retried job=flaky .* in 0\.2s: attempt 1 of 4 ended error")
    wait_for(lambda: 'scheduler_fire_retries_total{job="flaky"}' in host.get("/metrics").text, 10, "the counter")
