"""JSON logs from every process a gunicorn master with the kit starts (issue 25 item 7), and the
app's own logging setup applying to jobs in the runner."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from support import Host, HostFactory, wait_for

#: What every JSON line carries (scheduler_proc.logs.JsonFormatter).
_KEYS = {"time", "level", "logger", "pid", "message"}


def _json_lines(host: Host) -> list[dict[str, Any]]:
    """Every non-empty line of the host's output as a JSON object; fails naming a line that is not one."""
    parsed = []
    for line in host.output().splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
        assert isinstance(entry, dict) and set(entry) >= _KEYS, line
        parsed.append(entry)
    return parsed


def test_every_line_of_every_process_is_json(hosts: HostFactory, tmp_path: Path) -> None:
    app_log = tmp_path / "app.log"
    host = hosts(jobs="app_logging:jobs", env={"SCHEDULER_LOG_FORMAT": "json", "APP_LOG": str(app_log)})
    host.start_and_wait()
    host.wait_log(r'"message": "fire end job=logged ')
    host.wait_log(r'"message": "fire end job=logged_apart ')
    host.wait_log(r'"logger": "uvicorn.error".*"message": "Application startup complete', count=2)  # both workers
    workers, [supervisor], [runner] = host.worker_pids(), host.supervisor_pids(), host.runner_pids()
    assert host.get("/scheduler/status").status_code == 200  # an access line
    host.signal(signal.SIGHUP)  # gunicorn re-executes the config and sets its logging up again
    host.wait_log(r'"message": "Booting worker', count=4)
    host.signal(signal.SIGTERM)
    host.wait_exit(15)

    lines = _json_lines(host)
    by_pid: dict[int, set[str]] = {}
    for entry in lines:
        by_pid.setdefault(entry["pid"], set()).add(entry["logger"])
    assert "gunicorn.error" in by_pid[host.master_pid], by_pid  # "Starting gunicorn", the kit's hook lines
    for worker in workers:  # UvicornWorker: gunicorn's "Booting worker" and uvicorn's own lines
        assert {"gunicorn.error", "uvicorn.error"} <= by_pid.get(worker, set()), (worker, by_pid)
    assert any(entry["logger"] == "uvicorn.access" for entry in lines), by_pid
    assert any(name.startswith("scheduler.") for name in by_pid[supervisor]), by_pid
    assert "scheduler.fire" in by_pid[runner], by_pid
    job = next(entry for entry in lines if entry["logger"] == "app_logging.jobs")
    assert job["pid"] == runner and job["order_id"] == 42 and job["message"].startswith("job line of run "), job
    apart = next(entry for entry in lines if entry["message"].startswith("job line apart of run "))
    assert apart["pid"] not in (runner, supervisor, host.master_pid) and apart["order_id"] == 43, apart


def test_the_apps_own_logging_setup_gets_the_jobs_records(hosts: HostFactory, tmp_path: Path) -> None:
    """The jobs module's basicConfig applied in the runner (the kit's handler was added, not put in its place)."""
    app_log = tmp_path / "app.log"
    host = hosts(jobs="app_logging:jobs", env={"APP_LOG": str(app_log)}).start_and_wait()
    wait_for(
        lambda: app_log.exists() and "app-format app_logging.jobs: job line of run " in app_log.read_text(),
        10,
        "the job's line in the app's own log file",
    )
    wait_for(  # a def job with a timeout runs in a process of its own, which sets up logging the same way
        lambda: "app-format app_logging.jobs: job line apart of run " in app_log.read_text(),
        15,
        "the line of the job run apart in the app's own log file",
    )
    host.wait_log(r"app_logging.jobs: job line of run ")  # the kit's handler (plain here) got it as well
