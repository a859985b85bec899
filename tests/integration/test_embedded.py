"""Without gunicorn, `uvicorn --workers N` and `fastapi run --workers N` run each fire once."""

from __future__ import annotations

import os
import signal
import time
from functools import partial
from pathlib import Path

import pytest
from support import FASTAPI, UVICORN, HostFactory, assert_no_duplicates, assert_no_gaps, read_fires, wait_for

UVICORN_3 = [UVICORN, "app.main:app", "--workers", "3", "--host", "127.0.0.1", "--port", "{port}"]


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_uvicorn_workers_run_each_fire_once(hosts: HostFactory) -> None:
    host = hosts(command=UVICORN_3).start_and_wait()
    wait_for(lambda: len(read_fires(host.fire_log)) >= 6, 15, "six fires")
    assert len(host.supervisor_pids()) == 1 and len(host.runner_pids()) == 1
    fires = read_fires(host.fire_log)
    assert {f["pid"] for f in fires} == set(host.runner_pids())
    assert_no_duplicates(fires)
    assert_no_gaps(fires)
    answers = [host.status() for _ in range(10)]
    assert all(a and a["role"] == "leader" and a["pid"] == host.runner_pids()[0] for a in answers), answers


def test_kill_9_of_the_worker_hosting_the_scheduler_hands_over_within_5s(hosts: HostFactory) -> None:
    host = hosts(command=UVICORN_3).start_and_wait()
    wait_for(lambda: len(read_fires(host.fire_log)) >= 2, 10, "fires")
    [supervisor] = host.supervisor_pids()
    [runner] = host.runner_pids()
    owner = _parent(supervisor)
    assert owner != host.master_pid, "the scheduler should hang off a worker, not uvicorn's supervisor"
    os.kill(owner, signal.SIGKILL)
    killed = time.time()
    wait_for(
        lambda: any(f["pid"] != runner and f["started"] > killed for f in read_fires(host.fire_log)),
        5,
        "a fire from the new scheduler",
    )
    wait_for(
        lambda: len(host.supervisor_pids()) == 1 and supervisor not in host.supervisor_pids(),
        5,
        "exactly one new supervisor",
    )
    assert_no_duplicates(read_fires(host.fire_log))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_stopping_uvicorn_leaves_nothing_running(hosts: HostFactory, sig: signal.Signals) -> None:
    host = hosts(command=UVICORN_3).start_and_wait()
    wait_for(lambda: read_fires(host.fire_log), 10, "a fire")
    ours = host.supervisor_pids() + host.runner_pids()
    host.signal(sig)
    host.wait_exit(20)
    wait_for(lambda: not host.supervisor_pids() and not host.runner_pids(), 5, "the scheduler to exit")
    assert not any(Path(f"/proc/{pid}").exists() for pid in ours)


def test_fastapi_run_workers_run_each_fire_once(hosts: HostFactory) -> None:
    host = hosts(
        command=[FASTAPI, "run", "app/main.py", "--workers", "2", "--host", "127.0.0.1", "--port", "{port}"]
    ).start_and_wait(timeout=30)
    wait_for(lambda: len(read_fires(host.fire_log)) >= 4, 15, "four fires")
    assert len(host.supervisor_pids()) == 1
    assert_no_duplicates(read_fires(host.fire_log))


def test_under_the_kits_gunicorn_the_lifespan_starts_nothing(hosts: HostFactory) -> None:
    host = hosts(workers=3).start_and_wait()
    wait_for(lambda: len(read_fires(host.fire_log)) >= 2, 10, "fires")
    [supervisor] = host.supervisor_pids()
    assert _parent(supervisor) == host.master_pid
    assert "started by worker" not in host.output()


def _validate_checks(jobs: str) -> list[int]:
    """Pids of the lifespan's `scheduler_proc validate` checks of SCHEDULER_JOBS=``jobs`` on this machine."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            words = (proc / "cmdline").read_bytes().split(b"\0")
            ours = f"SCHEDULER_JOBS={jobs}".encode() in (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if ours and b"validate" in words and b"--parent-pid" in words:
            found.append(int(proc.name))
    return found


def test_the_lifespans_jobs_check_ends_with_a_killed_uvicorn(hosts: HostFactory) -> None:
    """uvicorn checks SCHEDULER_JOBS in a child (`scheduler-proc validate`) before it serves; a
    SIGKILLed uvicorn left that child behind, for ever when the jobs module blocks at import."""
    host = hosts(
        jobs="blocks_at_import:jobs", command=[UVICORN, "app.main:app", "--host", "127.0.0.1", "--port", "{port}"]
    )
    host.start()
    # One check per uvicorn worker that runs the lifespan (WEB_CONCURRENCY may give uvicorn several).
    checks = wait_for(lambda: _validate_checks("blocks_at_import:jobs"), 20, "the jobs check")
    for check in checks:
        os.kill(_parent(check), signal.SIGKILL)  # the uvicorn process whose lifespan waits for the check
    for check in checks:
        wait_for(partial(_ended, check), 5, "the jobs check to end")


def _ended(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists() or _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
