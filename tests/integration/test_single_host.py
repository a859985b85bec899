"""Behaviour on one host, proven with real gunicorn masters and real signals."""

from __future__ import annotations

import itertools
import os
import re
import signal
import socket
import stat
import time
from datetime import datetime
from pathlib import Path

import pytest
from support import (
    Host,
    HostFactory,
    alive,
    assert_no_duplicates,
    assert_no_gaps,
    proc_cmdline,
    read_fires,
    wait_for,
)


def _fire_count_after(host: Host, moment: float) -> int:
    return sum(1 for fire in read_fires(host.fire_log) if fire["started"] > moment)


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                inodes.add(fields[9])
    return inodes


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        match = re.fullmatch(r"socket:\[(\d+)\]", target)
        if match:
            inodes.add(match.group(1))
    return inodes


def _caught_signals(pid: int) -> set[int]:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            mask = int(line.split()[1], 16)
            return {sig for sig in range(1, 65) if mask & (1 << (sig - 1))}
    return set()


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def test_make_run_serves_the_demo_app_with_its_scheduler_on_port_8000(hosts: HostFactory) -> None:
    """`make run` as the README's quickstart says: the demo on 127.0.0.1:8000, its scheduler leading.

    make exports a variable to its commands even when it is empty; an empty BIND once reached
    gunicorn this way and it listened nowhere, while every test set BIND itself.
    """
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", 8000))
        except OSError:
            pytest.skip("port 8000 is in use here, and make run serves on it")
    # -o: the suite's venv as it is (a rebuild mid-run is not the point); and none of the outer
    # make's variables (make test BIND=... would pass them down).
    command = ["make", "--no-print-directory", "-o", ".venv/.installed", "run"]
    host = hosts(jobs="app.jobs:jobs", command=command, workers=1)
    for name in ("BIND", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        host.env.pop(name, None)
    host.port = 8000
    host.start_and_wait(timeout=60)
    assert host.get("/healthz").status_code == 200
    assert "Listening at: http://127.0.0.1:8000" in host.output()


def test_fires_once_with_four_workers_only_in_the_runner(hosts: HostFactory) -> None:
    host = hosts(workers=4).start_and_wait()
    wait_for(lambda: len(read_fires(host.fire_log)) >= 6, 15, "six fires")
    fires = read_fires(host.fire_log)
    runner_pids = host.runner_pids()
    assert len(runner_pids) == 1, runner_pids
    assert {fire["pid"] for fire in fires} == set(runner_pids)
    workers = host.worker_pids()
    assert len(workers) == 4
    assert not set(workers) & {fire["pid"] for fire in fires}
    assert host.master_pid not in {fire["pid"] for fire in fires}
    assert _threads(host.master_pid) == 1, "the master must stay single-threaded"
    assert_no_duplicates(fires)
    assert_no_gaps(fires)


def test_scheduler_is_a_fresh_interpreter_without_sockets_or_gunicorn_handlers(hosts: HostFactory) -> None:
    host = hosts().start_and_wait()
    listeners = _listening_inodes(host.port)
    assert listeners, "could not find gunicorn's listening socket"
    for pid in host.supervisor_pids() + host.runner_pids():
        assert "-m scheduler_proc." in proc_cmdline(pid)
        assert not _socket_inodes(pid) & listeners, f"pid {pid} inherited the listening socket"
        caught = _caught_signals(pid)
        for gunicorn_only in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGTTIN, signal.SIGTTOU, signal.SIGWINCH):
            assert gunicorn_only not in caught, f"pid {pid} handles {gunicorn_only.name} like gunicorn"
    assert len(host.supervisor_pids()) == 1


def test_kill_9_of_runner_is_replaced_within_5s_and_workers_untouched(hosts: HostFactory) -> None:
    host = hosts(workers=3).start_and_wait()
    wait_for(lambda: read_fires(host.fire_log), 10, "a first fire")
    workers = host.worker_pids()
    [runner] = host.runner_pids()
    os.kill(runner, signal.SIGKILL)
    killed_at = time.time()
    wait_for(
        lambda: any(f["pid"] != runner and f["started"] > killed_at for f in read_fires(host.fire_log)),
        5,
        "a replacement runner to run a fire",
    )
    assert host.worker_pids() == workers
    host.wait_log(rf"scheduler runner \(pid {runner}\) was killed by SIGKILL")
    assert_no_duplicates(read_fires(host.fire_log))


def test_kill_9_of_master_leaves_nothing_running_jobs(hosts: HostFactory) -> None:
    host = hosts().start_and_wait()
    wait_for(lambda: read_fires(host.fire_log), 10, "a first fire")
    scheduler = host.supervisor_pids() + host.runner_pids()
    host.signal(signal.SIGKILL)
    wait_for(lambda: not any(alive(pid) for pid in scheduler), 5, "the scheduler processes to exit")
    exited = time.time()
    assert not host.supervisor_pids() + host.runner_pids(), "a scheduler process of this host is left"
    # The job fires every second: absence over three periods shows the schedule stopped.
    wait_for(lambda: time.time() > exited + 3, 5, "three periods of the 1-second job")
    assert _fire_count_after(host, exited) == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGQUIT], ids=lambda s: s.name)
def test_stop_signal_lets_running_job_finish_and_starts_no_new_fire(hosts: HostFactory, sig: signal.Signals) -> None:
    # UvicornWorker ignores SIGQUIT, so gunicorn waits its graceful timeout: keep it short here.
    host = hosts(jobs="slow:jobs", env={"SLOW_SECONDS": "2", "GRACEFUL_TIMEOUT": "3"}).start_and_wait()
    wait_for(lambda: [f for f in read_fires(host.fire_log) if f["event"] == "start"], 10, "the slow job to start")
    scheduler = host.supervisor_pids() + host.runner_pids()
    host.signal(sig)
    signalled = time.time()
    host.wait_exit(20)
    fires = read_fires(host.fire_log)
    starts = [f for f in fires if f["event"] == "start"]
    ends = {f["scheduled_at"] for f in fires if f["event"] == "end"}
    assert not [f for f in starts if f["started"] > signalled + 0.1], "a fire started after the stop signal"
    assert {f["scheduled_at"] for f in starts} <= ends, "a running job was not allowed to finish"
    assert not any(alive(pid) for pid in scheduler), "scheduler processes outlived gunicorn"


def test_stop_grace_is_configurable_and_then_the_job_is_abandoned(hosts: HostFactory) -> None:
    host = hosts(jobs="slow:jobs", env={"SLOW_SECONDS": "30", "SCHEDULER_STOP_GRACE": "1"}).start_and_wait()
    wait_for(lambda: read_fires(host.fire_log), 10, "the slow job to start")
    scheduler = host.supervisor_pids() + host.runner_pids()
    started = time.monotonic()
    host.signal(signal.SIGTERM)
    host.wait_exit(15)
    assert time.monotonic() - started < 10
    assert not any(alive(pid) for pid in scheduler)
    assert "stop grace of 1s expired with job(s) still running: slow" in host.output()


def _write_ticker(directory: Path, version: int, broken: bool = False) -> None:
    source = (Path(__file__).parents[1] / "jobsets" / "ticker.py").read_text()
    source = source.replace("VERSION = 1", f"VERSION = {version}")
    if broken:
        source += "\nraise RuntimeError('broken on purpose')\n"
    (directory / "hupjobs.py").write_text(source)


def _hup_host(hosts: HostFactory, code: Path) -> Host:
    """A host whose jobs module (version 1) lives in ``code``, where a test can rewrite it."""
    code.mkdir()
    _write_ticker(code, 1)
    host = hosts(jobs="hupjobs:jobs")
    host.env["PYTHONPATH"] = f"{code}{os.pathsep}{host.env['PYTHONPATH']}"
    return host.start_and_wait()


def test_hup_reloads_changed_jobs_without_losing_or_doubling_a_fire(hosts: HostFactory, tmp_path: Path) -> None:
    code = tmp_path / "code"
    host = _hup_host(hosts, code)
    wait_for(lambda: len(read_fires(host.fire_log)) >= 2, 10, "fires of version 1")
    _write_ticker(code, 2)
    host.signal(signal.SIGHUP)
    wait_for(lambda: any(f["version"] == 2 for f in read_fires(host.fire_log)), 10, "a fire of version 2")
    wait_for(lambda: sum(f["version"] == 2 for f in read_fires(host.fire_log)) >= 3, 10, "more fires of version 2")
    fires = read_fires(host.fire_log)
    assert_no_duplicates(fires)
    assert_no_gaps(fires)
    first_v2 = min(f["scheduled_at"] for f in fires if f["version"] == 2)
    assert all(f["scheduled_at"] < first_v2 for f in fires if f["version"] == 1)


def test_hup_with_a_broken_jobs_module_keeps_the_old_scheduler(hosts: HostFactory, tmp_path: Path) -> None:
    code = tmp_path / "code"
    host = _hup_host(hosts, code)
    [runner] = host.runner_pids()
    _write_ticker(code, 2, broken=True)
    host.signal(signal.SIGHUP)
    host.wait_log("reload rejected")
    hup_done = time.time()
    wait_for(lambda: _fire_count_after(host, hup_done) >= 2, 10, "fires after the rejected reload")
    assert host.runner_pids() == [runner]
    assert {f["version"] for f in read_fires(host.fire_log)} == {1}
    assert host.count_lines("reload rejected") == 1
    assert "RuntimeError: broken on purpose" in host.output()


def test_a_replacement_supervisor_that_cannot_load_the_jobs_says_why(hosts: HostFactory, tmp_path: Path) -> None:
    code = tmp_path / "code"
    host = _hup_host(hosts, code)
    [supervisor] = host.supervisor_pids()
    _write_ticker(code, 2, broken=True)
    os.kill(supervisor, signal.SIGKILL)
    host.wait_log(r"could not start the scheduler: .*broken on purpose.*, after \S+; starting a new one in 2s")
    assert host.status() is not None  # the web side is untouched
    _write_ticker(code, 2)
    wait_for(lambda: any(f["version"] == 2 for f in read_fires(host.fire_log)), 15, "a fire of the fixed version")
    assert_no_duplicates(read_fires(host.fire_log))


def test_usr2_upgrade_never_runs_two_schedulers_and_new_master_takes_over(hosts: HostFactory) -> None:
    host = hosts().start_and_wait()
    wait_for(lambda: read_fires(host.fire_log), 10, "a first fire")
    old_master = host.master_pid
    [old_runner] = host.runner_pids()
    host.signal(signal.SIGUSR2)
    new_pidfile = host.pidfile.with_name(host.pidfile.name + ".2")  # gunicorn's name for the upgraded master
    wait_for(lambda: new_pidfile.exists() and new_pidfile.read_text().strip(), 10, "the new master")
    host.wait_log("waits as standby")
    assert len(host.runner_pids()) == 2
    os.kill(old_master, signal.SIGTERM)
    stopped = time.time()
    wait_for(lambda: any(f["pid"] != old_runner for f in read_fires(host.fire_log)), 6, "the new runner's fire")
    fires = read_fires(host.fire_log)
    first_new = min(f["started"] for f in fires if f["pid"] != old_runner)
    assert first_new - stopped < 5
    last_old = max(f["scheduled_at"] for f in fires if f["pid"] == old_runner)
    assert all(f["scheduled_at"] > last_old for f in fires if f["pid"] != old_runner), "two schedulers overlapped"
    assert_no_duplicates(fires)
    assert_no_gaps(fires)


def test_runner_exit_status_3_does_not_halt_gunicorn(hosts: HostFactory) -> None:
    host = hosts(jobs="exits:jobs").start_and_wait()
    host.wait_log(r"scheduler runner \(pid \d+\) exited with status 3", timeout=10)
    host.wait_log("scheduler runner restarted", timeout=10)
    assert host.process is not None and host.process.poll() is None
    assert host.get("/healthz").status_code == 200


def test_second_master_waits_as_standby_and_takes_over(hosts: HostFactory, tmp_path: Path) -> None:
    shared = tmp_path / "shared-run"
    first = hosts("node-a", lock_dir=shared).start_and_wait()
    second = hosts("node-b", lock_dir=shared).start_and_wait(role="standby")
    lock_file = shared / "scheduler.lock"
    assert stat.S_IMODE(lock_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(shared.stat().st_mode) == 0o700
    [first_runner] = first.runner_pids()
    assert f'"pid": {first_runner}' in lock_file.read_text() and '"node": "node-a"' in lock_file.read_text()
    status = second.status()
    assert status is not None and status["pid"] == first_runner
    first.signal(signal.SIGTERM)
    stopped = time.time()
    second.wait_role("leader", timeout=5)
    wait_for(lambda: any(f["node"] == "node-b" for f in read_fires(first.fire_log)), 5, "node-b to fire")
    assert min(f["started"] for f in read_fires(first.fire_log) if f["node"] == "node-b") - stopped < 5
    assert_no_duplicates(read_fires(first.fire_log))


def test_second_master_takes_over_when_the_first_is_killed(hosts: HostFactory, tmp_path: Path) -> None:
    shared = tmp_path / "shared-run"
    first = hosts("node-a", lock_dir=shared).start_and_wait()
    second = hosts("node-b", lock_dir=shared).start_and_wait(role="standby")
    first.signal(signal.SIGKILL)
    killed = time.time()
    wait_for(
        lambda: any(f["node"] == "node-b" and f["started"] > killed for f in read_fires(first.fire_log)),
        5,
        "node-b to fire after node-a's master died",
    )
    assert_no_duplicates(read_fires(first.fire_log))
    status = second.status()
    assert status is not None and status["role"] == "leader"


def test_status_agrees_across_workers_and_names_the_real_runner(hosts: HostFactory) -> None:
    host = hosts(workers=4).start_and_wait()
    wait_for(lambda: read_fires(host.fire_log), 10, "a first fire")
    # The fire log is written by the job; the status learns of the run through the recorder and
    # the publisher (about a second later): wait for that, never read it right after the job.
    wait_for(
        lambda: any(job["last_outcome"] == "success" for job in (host.status() or {}).get("jobs", [])),
        10,
        "the status to show the first run",
    )
    assert host.get("/healthz").json() == {"status": "ok"}
    [runner] = host.runner_pids()
    answers = [host.status() for _ in range(20)]
    assert all(a is not None and a["pid"] == runner and a["role"] == "leader" for a in answers), answers
    status = answers[-1]
    assert status is not None and status["node"] == "node-a"
    [job] = status["jobs"]
    assert job["id"] == "tick" and job["trigger"] == "every 1s"
    assert job["next_run_at"] and job["last_run_at"] and job["last_outcome"] == "success"
    upcoming = [datetime.fromisoformat(at) for at in job["next_fires"]]
    assert job["next_fires"][0] == job["next_run_at"] and len(upcoming) == 3
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(upcoming)] == [1.0, 1.0]
    detail = wait_for(lambda: host.get("/scheduler/jobs/tick").json(), 10, "tick's detail")
    assert len(detail["next_fires"]) == 3
    wait_for(lambda: host.get("/scheduler/jobs/tick").json()["history"], 10, "tick's history")


def test_fire_logs_and_a_raising_job_does_not_stop_the_scheduler(hosts: HostFactory) -> None:
    host = hosts(jobs="raising:jobs").start_and_wait()
    host.wait_log(r"fire failed job=boom", count=2)
    host.wait_log(r"fire end job=tick scheduled_at=\S+ node=node-a run_id=\w+ duration=[\d.]+s outcome=success")
    output = host.output()
    assert re.search(r"fire start job=boom scheduled_at=\S+ node=node-a", output)
    assert re.search(r"fire end job=boom .* outcome=error", output)
    assert "ValueError: boom on purpose" in output and "Traceback (most recent call last)" in output
    assert len(host.runner_pids()) == 1


def test_runs_with_the_uvicorn_workers_class_given_on_the_command_line(hosts: HostFactory) -> None:
    host = hosts(workers=2, extra_args=["-k", "uvicorn.workers.UvicornWorker"]).start_and_wait()
    wait_for(lambda: len(read_fires(host.fire_log)) >= 2, 10, "fires")
    assert "Using worker: uvicorn.workers.UvicornWorker" in host.output()
    assert {f["pid"] for f in read_fires(host.fire_log)} == set(host.runner_pids())


def test_a_killed_supervisor_is_replaced_by_the_master_with_backoff(hosts: HostFactory) -> None:
    host = hosts().start_and_wait()
    [supervisor] = host.supervisor_pids()
    [runner] = host.runner_pids()
    os.kill(supervisor, signal.SIGKILL)
    killed = time.time()
    wait_for(lambda: not alive(runner), 5, "the runner to follow its supervisor")
    host.wait_log(f"supervisor pid {supervisor} ended without being asked to, after .*; starting a new one in 1s")
    second = wait_for(lambda: [p for p in host.supervisor_pids() if p != supervisor], 5, "a new supervisor")[0]
    wait_for(
        lambda: any(f["started"] > killed and f["pid"] != runner for f in read_fires(host.fire_log)),
        10,
        "a fire from the new runner",
    )
    # One that dies soon after its start is replaced again, after twice the delay.
    os.kill(second, signal.SIGKILL)
    host.wait_log(f"supervisor pid {second} ended without being asked to, after .*; starting a new one in 2s")
    wait_for(lambda: [p for p in host.supervisor_pids() if p not in (supervisor, second)], 5, "a third supervisor")
    host.wait_role("leader", timeout=10)
    assert_no_duplicates(read_fires(host.fire_log))
    # Asked to stop, it is not replaced: nothing is left.
    host.signal(signal.SIGTERM)
    host.wait_exit(20)
    wait_for(lambda: not host.supervisor_pids() and not host.runner_pids(), 5, "nothing of the scheduler left")
