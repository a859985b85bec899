"""Bad input stops gunicorn before it serves, with one clear message and no traceback."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest
from support import Host, HostFactory, wait_for

CASES = {
    "crontab fields": ("bad_cron:jobs", {}, r"job 'bad_cron.cleanup': invalid crontab '\*/61 \* \* \*': 4 field"),
    "crontab value": ("bad_cron_value:jobs", {}, r"job 'bad_cron_value.cleanup': invalid crontab '\*/5 25 \* \* \*'"),
    "timezone": ("bad_tz:jobs", {}, r"job 'bad_tz.report': unknown timezone 'Europe/Atlantis'; use an IANA name"),
    "job id alphabet": (
        "bad_id:jobs",
        {},
        r"job id 'tick\\u202e' is invalid; use 1-200 of A-Z a-z 0-9 _ \. : - \(not only dots\)",
    ),
    "token a header cannot carry": (
        "ticker:jobs",
        {"SCHEDULER_ADMIN_TOKEN": "token-token-token-\u20ac"},
        r"SCHEDULER_ADMIN_TOKEN='\*\*\*' is invalid: use at least 16 visible ASCII characters",
    ),
    "duplicate id": ("dup_id:jobs", {}, r"duplicate job id 'sync': second \(.*dup_id.py:\d+\) and first"),
    "signature": ("bad_sig:jobs", {}, r"job 'bad_sig.needs_args': parameter 'user_id' is not annotated RunContext"),
    "missing module": (
        "no_such_module:jobs",
        {},
        r"SCHEDULER_JOBS='no_such_module:jobs': module 'no_such_module' not found",
    ),
    "module raises": (
        "raises_on_import:jobs",
        {},
        r"importing the module raised KeyError: 'missing-key' at .*raises_on_import.py:4",
    ),
    "missing attribute": ("ticker:scheduler", {}, r"module 'ticker' has no attribute 'scheduler'"),
    "not a Jobs": ("not_jobs:jobs", {}, r"'jobs' is a list, not a scheduler_proc.Jobs"),
    "jobs ref syntax": ("ticker", {}, r"SCHEDULER_JOBS='ticker' is invalid: use package.module:attribute"),
    "numeric setting": (
        "ticker:jobs",
        {"SCHEDULER_STOP_GRACE": "soon"},
        r"SCHEDULER_STOP_GRACE='soon' is invalid: use a number of seconds from 0 to 86400",
    ),
    "integer setting": (
        "ticker:jobs",
        {"SCHEDULER_MAX_WORKERS": "0"},
        r"SCHEDULER_MAX_WORKERS='0' is invalid: use a whole number from 1 to 1000",
    ),
    "misspelt token": (
        "ticker:jobs",
        {"SCHEDULER_READ_TOKN": "r" * 20},
        r"unknown setting SCHEDULER_READ_TOKN; did you mean SCHEDULER_READ_TOKEN\? \(fix the name, or set "
        r"SCHEDULER_ALLOW_UNKNOWN=true",
    ),
    "misspelt redis url": (
        "ticker:jobs",
        {"SCHEDULER_REDIS_ULR": "redis://127.0.0.1:6399/0"},
        r"unknown setting SCHEDULER_REDIS_ULR; did you mean SCHEDULER_REDIS_URL\?",
    ),
    "url timeout option": (
        "ticker:jobs",
        {"SCHEDULER_REDIS_URL": "redis://127.0.0.1:6399/0?socket_timeout=60"},
        r"option 'socket_timeout' is not accepted: the kit sizes Redis timeouts to SCHEDULER_LEASE_TTL",
    ),
    "url unknown option": (
        "ticker:jobs",
        {"SCHEDULER_REDIS_URL": "redis://127.0.0.1:6399/0?foo=bar"},
        r"option 'foo' is not accepted: remove it from the URL; use only db, username, password, ssl_password",
    ),
}


def _assert_refused(host: Host, expected: str) -> None:
    host.start()
    code = host.wait_exit(30)
    output = host.output()
    assert code != 0
    assert re.search(r"Error: scheduler: .*" + expected, output), output
    assert "Listening at" not in output, "gunicorn started serving"
    assert "Traceback" not in output
    assert not host.runner_pids() and not host.supervisor_pids()


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_jobs_or_setting_refuses_to_start(hosts: HostFactory, case: str) -> None:
    jobs, env, expected = CASES[case]
    _assert_refused(hosts(jobs=jobs, env=env), expected)


def test_lock_dir_symlink_is_refused(hosts: HostFactory, tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    _assert_refused(hosts(lock_dir=link), r"SCHEDULER_LOCK_DIR='.*/link' is a symlink to '.*/real'")


def test_lock_dir_writable_by_others_is_refused(hosts: HostFactory, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    _assert_refused(
        hosts(lock_dir=shared),
        r"SCHEDULER_LOCK_DIR='.*/shared' is writable by others \(mode 0777\); "
        r"run `chmod 700 .*/shared`",
    )


def test_lock_dir_not_writable_is_refused(hosts: HostFactory, tmp_path: Path) -> None:
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    os.chmod(readonly, 0o500)
    _assert_refused(hosts(lock_dir=readonly), r"SCHEDULER_LOCK_DIR='.*/readonly' is not writable \(mode 0500\)")


def test_unknown_setting_only_warns_when_allowed(hosts: HostFactory) -> None:
    host = hosts(env={"SCHEDULER_NODEID": "typo", "SCHEDULER_ALLOW_UNKNOWN": "true"}).start_and_wait()
    assert "unknown setting SCHEDULER_NODEID is ignored; did you mean SCHEDULER_NODE_ID?" in host.output()


@pytest.mark.parametrize("command", ["status", "validate"])
def test_the_cli_refuses_an_unknown_setting_in_one_line(hosts: HostFactory, command: str) -> None:
    done = hosts().cli(command, env={"SCHEDULER_READ_TOKN": "r" * 20})
    assert done.returncode == 2, done
    assert "Traceback" not in done.stderr and "r" * 20 not in done.stderr + done.stdout
    assert re.fullmatch(
        r"error: .*unknown setting SCHEDULER_READ_TOKN; did you mean SCHEDULER_READ_TOKEN\?.*\n", done.stderr
    ), done.stderr


def test_crashing_jobs_module_backs_off_instead_of_spinning(hosts: HostFactory, tmp_path: Path) -> None:
    marker = tmp_path / "crash-now"
    host = hosts(
        jobs="crashloop:jobs", env={"CRASH_MARKER": str(marker), "SCHEDULER_RESTART_BACKOFF_MAX": "4"}
    ).start_and_wait()
    marker.touch()
    [runner] = host.runner_pids()
    os.kill(runner, signal.SIGKILL)
    started = time.monotonic()
    # 0.5 + 1 + 2 + 4 + 4 ... seconds between attempts: the delay doubles up to the maximum
    # and stays there, and a spinning loop would make hundreds of attempts.
    host.wait_log(r"trying again in 4s", timeout=20, count=2)
    elapsed = time.monotonic() - started
    attempts = host.count_lines("scheduler runner cannot start")
    assert attempts <= 2 + elapsed / 2, (attempts, elapsed)
    delays = [float(d) for d in re.findall(r"cannot start: .*? trying again in ([\d.]+)s", host.output())]
    assert delays[:5] == sorted(delays[:5]) and max(delays) == 4, delays
    wait_for(lambda: host.process is not None and host.process.poll() is None, 1, "gunicorn to keep serving")
    assert host.get("/healthz").status_code == 200


def test_uvicorn_refuses_an_unknown_setting_in_one_line_without_a_traceback(hosts: HostFactory) -> None:
    from support import UVICORN

    command = [UVICORN, "app.main:app", "--host", "127.0.0.1", "--port", "{port}"]
    host = hosts(command=command, env={"SCHEDULER_READ_TOKN": "r" * 20}).start()
    host.wait_exit(30)  # uvicorn 0.54 exits 0 after "Application startup failed"
    output = host.output()
    assert "unknown setting SCHEDULER_READ_TOKN; did you mean SCHEDULER_READ_TOKEN?" in output, output
    assert "Traceback" not in output and "r" * 20 not in output, output


def test_lock_dir_under_a_symlink_is_refused(hosts: HostFactory, tmp_path: Path) -> None:
    """Issue 23 item 18: the ancestors are checked as the setting writes them, before resolve()."""
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(real)
    _assert_refused(
        hosts(lock_dir=tmp_path / "link" / "run"),
        r"SCHEDULER_LOCK_DIR='.*/link/run' lies under .*/link, a symlink to '.*/real'; point the setting at the real",
    )


@pytest.mark.parametrize("kind", ["a FIFO", "a directory"])
def test_something_else_at_the_lock_path_is_refused(hosts: HostFactory, tmp_path: Path, kind: str) -> None:
    """Issue 23 item 18: opened without blocking or following a symlink, its type checked."""
    lock_dir = tmp_path / "run"
    lock_dir.mkdir(mode=0o700)
    if kind == "a FIFO":
        os.mkfifo(lock_dir / "scheduler.lock", 0o600)
    else:
        (lock_dir / "scheduler.lock").mkdir(mode=0o700)
    _assert_refused(hosts(lock_dir=lock_dir), rf"host lock .*/scheduler\.lock is {kind}, not a regular file; remove it")
