"""Job timeouts (issue 25 item 1), with a real gunicorn master, runner and job processes."""

from __future__ import annotations

import itertools
from datetime import datetime
from pathlib import Path
from typing import Any

from support import Host, HostFactory, read_fires, wait_for


def _history(host: Host, job: str) -> list[dict[str, Any]]:
    answer = host.get(f"/scheduler/jobs/{job}")
    return list(answer.json().get("history", [])) if answer.status_code == 200 else []


def _runs(host: Host, job: str, outcome: str) -> list[dict[str, Any]]:
    return [run for run in _history(host, job) if run["outcome"] == outcome]


def test_a_run_past_its_timeout_is_stopped_and_recorded_only_once_it_has_ended(hosts: HostFactory) -> None:
    host = hosts(jobs="timeouts:jobs").start_and_wait()
    [stubborn] = wait_for(lambda: [f for f in read_fires(host.fire_log) if f["job"] == "stubborn"][:1], 15, "a run")
    assert stubborn["pid"] not in host.runner_pids(), "a plain def with a timeout runs in a process of its own"
    # It ignores SIGTERM: SIGKILL comes 2 s after it, and the run is recorded once the process is gone.
    wait_for(lambda: not Path(f"/proc/{stubborn['pid']}").exists(), 20, "the job's process to be stopped")
    [stopped] = wait_for(lambda: _runs(host, "stubborn", "timed_out")[-1:], 15, "the timed-out run in history")
    assert "timeout of 3s" in stopped["error"] and "SIGKILL" in stopped["error"], stopped
    assert stopped["duration"] >= 3 + 2, f"recorded before it ended: {stopped}"
    host.wait_log(r"WARNING\] scheduler\.fire: fire timed out job=stubborn .*killed \(SIGKILL\)")

    [cancelled] = wait_for(lambda: _runs(host, "slow_async", "timed_out")[-1:], 15, "the async run timed out")
    assert "cancelled" in cancelled["error"] and 1 <= cancelled["duration"] < 3, cancelled

    [failed] = wait_for(lambda: _runs(host, "failing", "error")[-1:], 15, "the failing run")
    assert failed["error"] == "ValueError: no such customer 42", failed
    assert "Traceback" in host.output() and "no such customer 42" in host.output()

    [quick] = wait_for(lambda: [f for f in read_fires(host.fire_log) if f["job"] == "quick"][:1], 15, "a quick run")
    assert quick["current"] is True and quick["pid"] not in host.runner_pids()
    wait_for(lambda: _runs(host, "quick", "success"), 15, "the quick run recorded as a success")
    # max_instances=1 counts a timed-out run until its process is gone: no run starts before the previous ends.
    runs = sorted(_history(host, "stubborn"), key=lambda run: datetime.fromisoformat(run["started_at"]))
    assert all(
        datetime.fromisoformat(later["started_at"]) >= datetime.fromisoformat(earlier["finished_at"])
        for earlier, later in itertools.pairwise(runs)
    ), runs
