"""Local trouble shows in health: a full directory, a corrupt ledger, a Redis that refuses writes.

Each turns ``/scheduler/status`` (``problems``), ``/scheduler/readyz`` (503) and
``scheduler-proc check`` (exit 1) red with the reason, is logged once, never crash-loops the
runner, and clears by itself once the trouble is gone (issue 22, items 7 and 13).

A "full" directory is a small tmpfs mounted on it (the suite runs as root, on CI too); the
test is skipped when mounting is not allowed. A tmpfs is the real thing: writes fail with
ENOSPC exactly as on a full disk, and removing the filler gives the room back.
"""

from __future__ import annotations

import errno
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis_support import RedisServer
from support import Host, read_fires, wait_for

from scheduler_proc.coordination.local.ledger import LocalLedger
from scheduler_proc.coordination.records import ClaimResult
from scheduler_proc.coordination.term import Term
from scheduler_proc.errors import LedgerError


@pytest.fixture
def small_disk() -> Iterator[Callable[[Path], Path]]:
    """Mount a 1 MiB tmpfs (mode 0700) on a directory; unmounted after the test (and after its hosts)."""
    mounted: list[Path] = []

    def mount(path: Path) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(path)], capture_output=True, text=True
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs to fill ({done.stderr.strip()}); needs root")
        mounted.append(path)
        return path

    yield mount
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(directory: Path) -> Path:
    """Write a file until the directory's file system has no room left; remove it to give the room back."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return filler


def _problems(host: Host) -> list[dict[str, Any]]:
    status = host.status()
    return list(status.get("problems", [])) if status else []


def _wait_problem(host: Host, words: str, timeout: float = 15) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        return next((p for p in _problems(host) if words in p["detail"]), None)

    return wait_for(found, timeout, f"{host.name} status to list a problem with {words!r}")


def _assert_red(host: Host, secret: str) -> None:
    """readyz 503 with a short reason that shows no path; check exits 1 with the reason."""
    ready = host.get("/scheduler/readyz", timeout=10)
    assert ready.status_code == 503, ready.text
    assert secret not in ready.text and "/" not in ready.json()["reason"], ready.text
    check = host.cli("check")
    assert check.returncode == 1, check.stdout + check.stderr


def _assert_green(host: Host) -> None:
    # A status that did not answer in time is no proof of health: wait for one that answers clean.
    wait_for(lambda: (status := host.status()) is not None and not status.get("problems"), 15, "no problems")
    wait_for(lambda: _readyz(host) == 200, 10, "readyz 200 again")
    check = host.cli("check")
    assert check.returncode == 0, check.stdout + check.stderr


def _readyz(host: Host) -> int:
    try:
        return host.get("/scheduler/readyz", timeout=5).status_code
    except httpx.HTTPError:
        return 0


def _fires_after(host: Host, moment: float) -> list[dict[str, Any]]:
    return [fire for fire in read_fires(host.fire_log) if fire["started"] > moment]


def test_a_full_state_directory_turns_health_red_runs_no_fire_and_recovers(
    small_disk: Callable[[Path], Path], hosts: Callable[..., Host]
) -> None:
    host = hosts()
    state = small_disk(host.dir / "state")
    host.start_and_wait("leader")
    runners = host.runner_pids()
    wait_for(lambda: read_fires(host.fire_log), 10, "a first fire")
    filler = _fill(state)
    problem = _wait_problem(host, str(state))
    assert "SCHEDULER_STATE_DIR" in problem["detail"] and "full" in problem["summary"], problem
    _assert_red(host, str(host.dir))
    red_at = time.time()
    # Fires keep coming due and are not run: logged as not started, with the reason, once.
    host.wait_log(r"fire not started job=tick .*state directory", timeout=10)
    wait_for(lambda: time.time() > red_at + 2.5, 5, "fires to come due while full")
    assert not _fires_after(host, red_at + 0.5), "a fire ran that could not be recorded as claimed"
    assert host.count_lines("Traceback") == 0, host.output()
    assert host.count_lines(r"ERROR.*state directory .* is full") == 1, host.output()
    filler.unlink()
    room_at = time.time()
    wait_for(lambda: _fires_after(host, room_at), 10, "fires to run again once there is room")
    _assert_green(host)
    assert host.runner_pids() == runners, "the runner was restarted"


def test_a_full_lock_directory_turns_health_red_without_a_crash_loop_or_tmp_files(
    small_disk: Callable[[Path], Path], hosts: Callable[..., Host]
) -> None:
    host = hosts()
    run = small_disk(host.dir / "run")
    host.start_and_wait("leader")
    runners = host.runner_pids()
    filler = _fill(run)
    full_at = time.time()
    problem = _wait_problem(host, str(run))
    assert "SCHEDULER_LOCK_DIR" in problem["detail"], problem
    _assert_red(host, str(host.dir))
    wait_for(lambda: len(_fires_after(host, full_at + 1)) >= 2, 10, "fires to go on (the ledger is elsewhere)")
    assert host.runner_pids() == runners, "the runner was restarted"
    assert not list(run.glob("*.tmp")) and not list(run.glob(".*.tmp")), sorted(os.listdir(run))
    assert host.count_lines("Traceback") == 0, host.output()
    assert host.count_lines(r"ERROR.*cannot write the status file") == 1, host.output()
    filler.unlink()
    _assert_green(host)
    status = host.status()
    assert status is not None and status["updated_at"] > time.time() - 5, status


def _corrupt(path: Path) -> None:
    path.write_bytes(b"this is not an SQLite database, " * 200)


def test_the_ledger_leaves_a_corrupt_file_untouched_and_makes_a_new_one_once_it_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    _corrupt(path)
    garbage = path.read_bytes()
    ledger = LocalLedger(path, retention=60)  # no raise: the runner must stay up
    with pytest.raises(LedgerError, match=r"is corrupt .*move it aside") as caught:
        ledger.last_claimed_all()
    assert caught.value.summary == "the ledger is corrupt"
    assert path.read_bytes() == garbage  # evidence kept; nothing of ours written into it
    path.rename(tmp_path / "l.sqlite3.corrupt")

    def claimed() -> bool:
        try:
            return ledger.claim("job", datetime.now(UTC), Term(None, lambda: True), "n", "r1") is ClaimResult.CLAIMED
        except LedgerError:
            return False  # opened again at most once a second

    wait_for(claimed, 5, "a claim in a new ledger")
    assert path.read_bytes().startswith(b"SQLite format 3")


def test_a_corrupt_ledger_refuses_to_dispatch_says_so_once_and_recovers_when_moved_aside(
    hosts: Callable[..., Host],
) -> None:
    host = hosts()
    state = host.dir / "state"
    state.mkdir(mode=0o700)
    ledger = state / "scheduler.sqlite3"
    _corrupt(ledger)
    host.start()
    problem = _wait_problem(host, str(ledger), timeout=20)
    assert "move it aside" in problem["detail"] and "corrupt" in problem["summary"], problem
    _assert_red(host, str(host.dir))
    history = host.get("/scheduler/jobs/tick")  # the web workers read the ledger too: an answer, not a 500
    assert history.status_code == 503 and "corrupt" in history.text and str(host.dir) not in history.text, history.text
    runners = host.runner_pids()
    seen = time.time()
    wait_for(lambda: (host.status() or {}).get("updated_at", 0) > seen + 2, 10, "the runner to go on publishing")
    assert host.runner_pids() == runners, "the runner was restarted (a crash loop)"
    assert not read_fires(host.fire_log), "a fire ran that could not be recorded as claimed"
    assert host.count_lines(r"ERROR.*ledger .*corrupt") == 1, host.output()
    assert host.count_lines("Traceback") == 0, host.output()
    ledger.rename(ledger.with_name("scheduler.sqlite3.corrupt"))
    wait_for(lambda: read_fires(host.fire_log), 15, "fires once the corrupt ledger is moved aside")
    _assert_green(host)
    assert host.runner_pids() == runners


def test_a_read_only_replica_as_redis_turns_health_red_once_and_recovers_when_it_takes_writes(
    tmp_path: Path, hosts: Callable[..., Host]
) -> None:
    primary = RedisServer(tmp_path / "primary").start()
    replica = RedisServer(tmp_path / "replica", replica_of=primary.port).start()
    try:
        host = hosts(env={"SCHEDULER_REDIS_URL": replica.url, "SCHEDULER_LEASE_TTL": "2"})
        host.start()
        problem = _wait_problem(host, "read-only", timeout=20)
        assert f"127.0.0.1:{replica.port}" in problem["detail"] and "SCHEDULER_REDIS_URL" in problem["detail"]
        _assert_red(host, f"{replica.port}")
        host.wait_log(r"read-only", timeout=5)
        seen = time.time()
        wait_for(lambda: (host.status() or {}).get("updated_at", 0) > seen + 2, 10, "more lease ticks")
        assert host.count_lines("ReadOnlyError") == 0 and host.count_lines("Traceback") == 0, host.output()
        assert host.count_lines(r"ERROR.*read-only") == 1, host.output()
        replica.client().execute_command("REPLICAOF", "NO", "ONE")
        host.wait_role("leader", timeout=15)
        _assert_green(host)
    finally:
        replica.kill()
        primary.kill()


def test_a_ledger_corrupted_while_the_scheduler_runs_stops_the_fires_and_says_so(hosts: Callable[..., Host]) -> None:
    host = hosts()
    host.start_and_wait("leader")
    wait_for(lambda: read_fires(host.fire_log), 10, "a first fire")
    runners = host.runner_pids()
    state = host.dir / "state"
    ledger = state / "scheduler.sqlite3"
    _corrupt(ledger)
    _wait_problem(host, str(ledger))
    _assert_red(host, str(host.dir))
    red_at = time.time()
    wait_for(lambda: time.time() > red_at + 2.5, 5, "fires to come due while the ledger is corrupt")
    assert not _fires_after(host, red_at + 0.5), "a fire ran that could not be recorded as claimed"
    assert host.runner_pids() == runners, "the runner was restarted"
    assert host.count_lines("Traceback") == 0, host.output()
    assert host.count_lines(r"ERROR.*ledger .*corrupt") == 1, host.output()
    for path in state.glob("scheduler.sqlite3*"):
        path.rename(path.with_name(path.name + ".corrupt"))
    moved_at = time.time()
    wait_for(lambda: _fires_after(host, moved_at), 15, "fires once the corrupt ledger is moved aside")
    _assert_green(host)
    assert host.runner_pids() == runners


def test_a_fifo_put_at_the_lock_path_while_running_is_named_without_a_crash_loop(hosts: Callable[..., Host]) -> None:
    """Issue 23 item 18: something else than a file at the lock path after the start (here a
    FIFO) made the runner exit with a traceback on every try; it now waits as standby, lists
    the problem, and takes the lock again once the path is free."""
    host = hosts().start_and_wait()
    wait_for(lambda: read_fires(host.fire_log), 10, "a fire")
    pids = host.runner_pids()
    lock = host.dir / "run" / "scheduler.lock"
    lock.unlink()
    os.mkfifo(lock, 0o600)
    # Status answers 503 without the path (anyone may read it); the log names it and the fix.
    wait_for(lambda: _status_answer(host, "not trusted"), 15, "status to answer that the files are not trusted")
    assert host.get("/scheduler/readyz", timeout=10).status_code == 503
    host.wait_log(r"ERROR\] scheduler\.health: host lock .*scheduler\.lock is not a regular file .*; remove it")
    assert host.runner_pids() == pids, "the runner was restarted"
    lock.unlink()
    _assert_green(host)
    fixed = time.time()
    wait_for(lambda: [f for f in read_fires(host.fire_log) if f["started"] > fixed], 15, "fires again")
    assert host.runner_pids() == pids and "Traceback" not in host.output()
    assert host.count_lines(r"ERROR\] scheduler\.health: host lock .* is not a regular file") == 1, host.output()


def _status_answer(host: Host, words: str) -> str | None:
    """The status answer's text if it names ``words`` (an answer of 503, or a listed problem)."""
    try:
        text = host.get("/scheduler/status", timeout=5).text
    except httpx.HTTPError:
        return None
    return text if words in text else None
