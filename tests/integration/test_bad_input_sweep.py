"""The bad-input sweep: each row is one bad input and what the kit must say about it.

Every row asserts a non-zero exit (or a 4xx), a message naming the setting, job or value
and the fix, no traceback as the only message, and that no secret shows. Settings, job
definitions, Redis URLs and credentials, deploy and CLI arguments go through the real
entry points in this process (``python -m scheduler_proc``'s and ``python -m deploy``'s
``main``); HTTP parameters and corrupt stored data through a real gunicorn host.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis_support import RedisServer
from support import GUNICORN, ROOT, Host, deploy_module, read_fires, wait_for

from scheduler_proc.web import cli

SECRET = "S3cretPassw0rd-do-not-show"
TOKEN = "sweep-admin-token-0123456789"
READ = "sweep-read-token-0123456789"

# -- settings, Redis URLs and credentials: (environment, what the message must say) ------------------
SETTINGS = [
    ({"SCHEDULER_ENABLED": "maybe"}, r"SCHEDULER_ENABLED='maybe' is invalid: use true or false"),
    ({"SCHEDULER_JOBS": "app.jobs"}, r"SCHEDULER_JOBS='app.jobs' is invalid: use package.module:attribute"),
    ({"SCHEDULER_NODE_ID": "web 1"}, r"SCHEDULER_NODE_ID='web 1' is invalid: use 1-128 letters"),
    ({"SCHEDULER_NAMESPACE": "a/b"}, r"SCHEDULER_NAMESPACE='a/b' is invalid: use 1-64 letters"),
    ({"SCHEDULER_LOCK_DIR": "run/x"}, r"SCHEDULER_LOCK_DIR='run/x' is invalid: use an absolute path"),
    ({"SCHEDULER_STATE_DIR": "~/state"}, r"SCHEDULER_STATE_DIR='~/state' is invalid: use an absolute path"),
    ({"SCHEDULER_STOP_GRACE": "-1"}, r"SCHEDULER_STOP_GRACE='-1' is invalid: use a number of seconds from 0"),
    ({"SCHEDULER_MISFIRE_GRACE": "0"}, r"SCHEDULER_MISFIRE_GRACE='0' is invalid: use a number of seconds from 1"),
    ({"SCHEDULER_MISFIRE_GRACE": "nan"}, r"SCHEDULER_MISFIRE_GRACE='nan' is invalid: use a number of seconds"),
    ({"SCHEDULER_START_TIMEOUT": "0"}, r"SCHEDULER_START_TIMEOUT='0' is invalid: use a number of seconds from 1"),
    ({"SCHEDULER_MAX_WORKERS": "1.5"}, r"SCHEDULER_MAX_WORKERS='1.5' is invalid: use a whole number from 1"),
    ({"SCHEDULER_RESTART_BACKOFF_MAX": "inf"}, r"SCHEDULER_RESTART_BACKOFF_MAX='inf' is invalid: use a number"),
    ({"SCHEDULER_CLAIM_RETENTION": "5"}, r"SCHEDULER_CLAIM_RETENTION='5' is invalid: use a number of seconds from 60"),
    ({"SCHEDULER_LOG_LEVEL": "LOUD"}, r"SCHEDULER_LOG_LEVEL='LOUD' is invalid: use one of DEBUG, INFO"),
    ({"SCHEDULER_LOG_FORMAT": "xml"}, r"SCHEDULER_LOG_FORMAT='xml' is invalid: use plain or json"),
    ({"SCHEDULER_HISTORY_SIZE": "0"}, r"SCHEDULER_HISTORY_SIZE='0' is invalid: use a whole number from 1"),
    ({"SCHEDULER_WATCHDOG_TIMEOUT": "0"}, r"SCHEDULER_WATCHDOG_TIMEOUT='0' is invalid: use a number of seconds from 1"),
    ({"SCHEDULER_TEST_CLOCK_OFFSET": "abc"}, r"SCHEDULER_TEST_CLOCK_OFFSET='abc' is invalid: use a number"),
    ({"SCHEDULER_ADMIN_TOKEN": "short"}, r"SCHEDULER_ADMIN_TOKEN='\*\*\*' is invalid: use at least 16 visible"),
    ({"SCHEDULER_READ_TOKEN": "short"}, r"SCHEDULER_READ_TOKEN='\*\*\*' is invalid: use at least 16 visible"),
    ({"SCHEDULER_LEASE_TTL": "5"}, r"SCHEDULER_LEASE_TTL is set but cluster mode is off; set SCHEDULER_REDIS_URL"),
    ({"SCHEDULER_MAX_CLOCK_OFFSET": "2"}, r"SCHEDULER_MAX_CLOCK_OFFSET is set but cluster mode is off"),
    ({"SCHEDULER_REDIS_PASSWORD": SECRET}, r"SCHEDULER_REDIS_PASSWORD is set but cluster mode is off"),
    (
        {"SCHEDULER_REDIS_URL": "redis://h/0", "SCHEDULER_LEASE_TTL": "0.1"},
        r"SCHEDULER_LEASE_TTL='0.1' is invalid: use a number of seconds from 0.5 to 300",
    ),
    (
        {"SCHEDULER_REDIS_URL": "redis://h/0", "SCHEDULER_REDIS_MIN_REPLICAS": "-1"},
        r"SCHEDULER_REDIS_MIN_REPLICAS='-1' is invalid: use a whole number from 0 to 100",
    ),
    (
        {
            "SCHEDULER_REDIS_URL": "redis://h/0",
            "SCHEDULER_REDIS_MIN_REPLICAS": "1",
            "SCHEDULER_REDIS_WAIT_TIMEOUT": "2",
        },
        r"SCHEDULER_REDIS_WAIT_TIMEOUT=2 is too long for SCHEDULER_LEASE_TTL=10: .* use at most 0.5",
    ),
    (
        {"SCHEDULER_REDIS_URL": "redis://h/0", "SCHEDULER_MAX_CLOCK_OFFSET": "0"},
        r"SCHEDULER_MAX_CLOCK_OFFSET='0' is invalid: use a number of seconds from 0.05",
    ),
    (
        {
            "SCHEDULER_REDIS_SENTINELS": "s1:26379",
            "SCHEDULER_REDIS_SENTINEL_MASTER": "m",
            "SCHEDULER_REDIS_CLUSTER": "1",
        },
        r"SCHEDULER_REDIS_CLUSTER=true needs SCHEDULER_REDIS_URL naming one node",
    ),
    (
        {"SCHEDULER_REDIS_URL": f"http://:{SECRET}@h/0"},
        r"SCHEDULER_REDIS_URL='http://:\*\*\*@h/0' is invalid: scheme http://",
    ),
    ({"SCHEDULER_REDIS_URL": f"redis//user:{SECRET}@h/0"}, r"SCHEDULER_REDIS_URL='redis//user:\*\*\*@h/0' is invalid"),
    ({"SCHEDULER_REDIS_URL": f"redis://u:{SECRET}@h:abc/0"}, r"is invalid: the port is not a number from 1 to 65535"),
    ({"SCHEDULER_REDIS_URL": f"redis://:{SECRET}@/0"}, r"is invalid: the URL has no host; use redis://host:6379/0"),
    ({"SCHEDULER_REDIS_URL": f"unix://?password={SECRET}"}, r"is invalid: the URL has no socket path"),
    (
        {"SCHEDULER_REDIS_URL": "rediss://h/0", "SCHEDULER_REDIS_TLS_CA_FILE": "/nonexistent/ca.pem"},
        r"SCHEDULER_REDIS_TLS_CA_FILE='/nonexistent/ca.pem' is invalid: the file does not exist",
    ),
    ({"SCHEDULER_REDIS_SENTINELS": "host-without-port"}, r"'host-without-port' is not host:port; use host:26379"),
    (
        {"SCHEDULER_REDIS_SENTINELS": "h:26379"},
        r"SCHEDULER_REDIS_SENTINELS is set without SCHEDULER_REDIS_SENTINEL_MASTER",
    ),
    (
        {"SCHEDULER_REDIS_URL": "redis://h/0", "SCHEDULER_REDIS_CLUSTER": "yes-please"},
        r"SCHEDULER_REDIS_CLUSTER='yes-please' is invalid: use true or false",
    ),
    # Issue 23, secrets: a '/' in the password, URL options that would weaken the connection, typos.
    ({"SCHEDULER_REDIS_URL": f"redis://:{SECRET}/x+y==@h/0"}, r"the URL has no host; .*percent-encode a '/'"),
    (
        {"SCHEDULER_REDIS_URL": f"rediss://:{SECRET}@h/0?ssl_cert_reqs=none&ssl_check_hostname=false"},
        r"option 'ssl_cert_reqs' is not accepted: TLS verification is always on",
    ),
    ({"SCHEDULER_REDIS_URL": "redis://h/0?socket_timeout=60"}, r"option 'socket_timeout' is not accepted"),
    ({"SCHEDULER_REDIS_URL": "redis://h/0?socket_timeout=abc"}, r"option 'socket_timeout' is not accepted"),
    ({"SCHEDULER_REDIS_URL": "redis://h/0?foo=bar"}, r"option 'foo' is not accepted: remove it from the URL"),
    ({"SCHEDULER_REDIS_URL": "redis://h/0?db=abc"}, r"option db='abc' is not a whole number"),
    ({"SCHEDULER_REDIS_URL": "redis://h/zero"}, r"the database '/zero' is not a whole number; use for example /0"),
    ({"SCHEDULER_READ_TOKN": READ}, r"unknown setting SCHEDULER_READ_TOKN; did you mean SCHEDULER_READ_TOKEN\?"),
    (
        {"SCHEDULER_REDIS_ULR": f"redis://:{SECRET}@h/0"},
        r"unknown setting SCHEDULER_REDIS_ULR; did you mean SCHEDULER_REDIS_URL\?",
    ),
]

# Issue 23 item 19: every number the kit reads takes ASCII digits only (Python's int() and
# float() take any Unicode digit, and '1_0' too); each row says which digits to use.
NON_ASCII_NUMBERS = [
    ({"SCHEDULER_STOP_GRACE": "\uff15"}, r"SCHEDULER_STOP_GRACE='\uff15' is invalid: use a number of seconds from 0"),
    ({"SCHEDULER_STOP_GRACE": "1_0"}, r"SCHEDULER_STOP_GRACE='1_0' is invalid: use a number of seconds from 0"),
    ({"SCHEDULER_MISFIRE_GRACE": "\u0663\u0660"}, r"SCHEDULER_MISFIRE_GRACE='\u0663\u0660' is invalid: use a number"),
    ({"SCHEDULER_START_TIMEOUT": "\u00b2"}, r"SCHEDULER_START_TIMEOUT='\u00b2' is invalid: use a number of seconds"),
    ({"SCHEDULER_MAX_WORKERS": "\u0664"}, r"SCHEDULER_MAX_WORKERS='\u0664' is invalid: use a whole number from 1"),
    ({"SCHEDULER_MAX_WORKERS": "1_0"}, r"SCHEDULER_MAX_WORKERS='1_0' is invalid: use a whole number from 1"),
    ({"SCHEDULER_HISTORY_SIZE": "\uff11\uff10"}, r"SCHEDULER_HISTORY_SIZE='\uff11\uff10' is invalid: use a whole"),
    ({"SCHEDULER_WATCHDOG_TIMEOUT": "\u0665"}, r"SCHEDULER_WATCHDOG_TIMEOUT='\u0665' is invalid: use a number"),
    ({"SCHEDULER_RESTART_BACKOFF_MAX": "\u0969"}, r"SCHEDULER_RESTART_BACKOFF_MAX='\u0969' is invalid: use a"),
    ({"SCHEDULER_CLAIM_RETENTION": "\u0663\u0666\u0660\u0660"}, r"SCHEDULER_CLAIM_RETENTION='.*' is invalid: use a"),
    (
        {"SCHEDULER_REDIS_URL": "redis://h/0", "SCHEDULER_LEASE_TTL": "\u0665"},
        r"SCHEDULER_LEASE_TTL='\u0665' is invalid: use a number of seconds from 0.5 to 300",
    ),
    (
        {"SCHEDULER_REDIS_URL": "redis://h/0", "SCHEDULER_REDIS_MIN_REPLICAS": "\u0661"},
        r"SCHEDULER_REDIS_MIN_REPLICAS='\u0661' is invalid: use a whole number from 0 to 100",
    ),
    (
        {"SCHEDULER_REDIS_URL": "redis://h:\uff16\uff13\uff17\uff19/0"},
        r"SCHEDULER_REDIS_URL=.* is invalid: the port is not a number from 1 to 65535",
    ),
    (
        {"SCHEDULER_REDIS_SENTINELS": "h:\u00b2", "SCHEDULER_REDIS_SENTINEL_MASTER": "m"},
        r"^error: SCHEDULER_REDIS_SENTINELS='h:\u00b2' is invalid: 'h:\u00b2' is not host:port; "
        r"use host:26379,host:26379\n$",
    ),
    (
        {"SCHEDULER_REDIS_SENTINELS": "h:\u0662\u0666\u0663\u0667\u0669", "SCHEDULER_REDIS_SENTINEL_MASTER": "m"},
        r"^error: SCHEDULER_REDIS_SENTINELS='.*' is invalid: '.*' is not host:port; use host:26379,host:26379\n$",
    ),
]
SETTINGS += NON_ASCII_NUMBERS

# Issue 23 item 18: a token must be what an HTTP header can carry (visible ASCII), or the
# admin API it guards can never be used; refused at start, and the token never shown.
TOKEN_CHARACTERS = ["\u20ac", "\u00fc", " ", "\t", "\u202e", "\u200b", "\x7f", "\u3000", "\x1b"]
SETTINGS += [
    (
        {name: f"{SECRET}{character}x"},
        rf"{name}='\*\*\*' is invalid: use at least 16 visible ASCII characters \(what an HTTP header can carry\)",
    )
    for name in ("SCHEDULER_ADMIN_TOKEN", "SCHEDULER_READ_TOKEN")
    for character in TOKEN_CHARACTERS
]


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """A clean SCHEDULER_* environment with private directories, for the in-process entry points."""
    for name in list(os.environ):
        if name.startswith("SCHEDULER_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SCHEDULER_LOCK_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("SCHEDULER_STATE_DIR", str(tmp_path / "state"))
    yield monkeypatch


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _assert_clear(code: int, output: str, message: str) -> None:
    import re

    assert code != 0, output
    assert re.search(message, output), output
    assert "Traceback" not in output, output
    assert SECRET not in output and TOKEN not in output and READ not in output, output


def _setting_id(env: dict[str, str]) -> str:
    """A row's name: its first variable and value, the value of a token or password only as its length."""
    name, value = next(iter(env.items()))
    secret = SECRET in value or name.endswith(("_TOKEN", "_PASSWORD"))
    return f"{name}=" + (f"<{len(value)} characters>" if secret else value[:24])


@pytest.mark.parametrize("env, message", SETTINGS, ids=[_setting_id(env) for env, _ in SETTINGS])
def test_a_bad_setting_is_named_with_its_fix(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        environment.setenv(name, value)
    code, output = _cli(capsys, "status")
    _assert_clear(code, output, message)


# -- job definitions: (the line in the jobs module, what the message must say) ---------------------
DEFINITIONS = [
    ('@jobs.cron("0 9 * * 8", id="x")', r"job 'x': invalid crontab '0 9 \* \* 8': day-of-week field"),
    ('@jobs.cron("* * * * * *", id="x")', r"seconds are not supported in a crontab; .* @jobs.every\(seconds=...\)"),
    ('@jobs.cron("@reboot", id="x")', r"@reboot is not supported"),
    ('@jobs.cron("0 0 30 2 *", id="x")', r"it never fires: no month of feb has a day 30"),
    (
        '@jobs.cron("0 9 * * *", id="x", timezone="Mars/Base")',
        r"job 'x': unknown timezone 'Mars/Base'; use an IANA name",
    ),
    ('@jobs.every(seconds=0, id="x")', r"job 'x': every\(\) interval of 0s is too short; use at least seconds=1"),
    (
        '@jobs.every(seconds=float("inf"), id="x")',
        r"job 'x': every\(seconds=inf\) must be a finite number >= 0 at .*m\d+\.py:\d+",
    ),
    ('@jobs.every(seconds=1.0000001, id="x")', r"is not a whole number of milliseconds; use for example seconds=1"),
    ('@jobs.every(seconds=1, id="x", jitter=float("nan"))', r"job 'x': jitter=nan must be a finite number of seconds"),
    ('@jobs.every(seconds=1, id="x", misfire_grace_time=0)', r"job 'x': misfire_grace_time=0 would skip every fire"),
    ('@jobs.every(seconds=1, id="x", max_instances=0)', r"job 'x': max_instances=0 must be a whole number >= 1"),
    ('@jobs.every(seconds=1, id="has space")', r"job id 'has space' is invalid; use 1-200 of A-Z a-z 0-9"),
    ('@jobs.every(seconds="1", id="x")', r"job 'x': every\(seconds='1'\) must be a finite number >= 0"),
]

# Issue 23 item 19: crontab(5) reads ASCII digits only; any other digit is refused with the
# crontab error naming the field (never run at the minute it looks like, never a bare ValueError).
CRONTAB_DIGITS = [
    ("\u0661 * * * *", "minute", r"'\u0661' is not a number from 0 to 59"),
    ("\uff15 * * * *", "minute", r"'\uff15' is not a number from 0 to 59"),
    ("\u00b9 * * * *", "minute", r"'\u00b9' is not a number from 0 to 59"),
    ("*/\u0665 * * * *", "minute", r"step '\u0665' must be a whole number of at least 1"),
    ("*/\u00b9 * * * *", "minute", r"step '\u00b9' must be a whole number of at least 1"),
    ("1-\u0665 * * * *", "minute", r"'\u0665' is not a number from 0 to 59"),
    ("0 \u00b2 * * *", "hour", r"'\u00b2' is not a number from 0 to 23"),
    ("0 \uff19 * * *", "hour", r"'\uff19' is not a number from 0 to 23"),
    ("0 0 \u0663 * *", "day-of-month", r"'\u0663' is not a number from 1 to 31"),
    ("0 0 1 \u0661 *", "month", r"'\u0661' is not a number from 1 to 12"),
    ("0 0 * * \u0663", "day-of-week", r"'\u0663' is not a number from 0 to 7"),
    ("0 0 * * 1,\u00b3", "day-of-week", r"'\u00b3' is not a number from 0 to 7"),
    ("\u2460 * * * *", "minute", r"'\u2460' is not a number from 0 to 59"),
]
# Issue 23 item 17: job ids are limited to ASCII letters, digits and _ . : - (not only dots),
# so an id is one safe path segment of the HTTP API and one unbroken word in a log line.
BAD_JOB_IDS = [
    ".",
    "..",
    "...",
    "tick\\n",
    "tick\\r",
    "ti\\tck",
    "\\x1b[2Jtick",
    "tick\\x07",
    "a\\u202eb",
    "\\u200btick",
    "t\\u00efck",
    "\\u0662",
    "a/b",
    "a\\\\b",
    "a?b",
    "a#b",
    "a%2Fb",
    "",
    "x" * 201,
]
DEFINITIONS += [
    (
        f'@jobs.every(seconds=1, id="{job_id}")',
        r"job id .* is invalid; use 1-200 of A-Z a-z 0-9 _ \. : - \(not only dots\)",
    )
    for job_id in BAD_JOB_IDS
]
DEFINITIONS += [
    (f'@jobs.cron("{text}", id="x")', rf"job 'x': invalid crontab .*{field} field .*{message}")
    for text, field, message in CRONTAB_DIGITS
]


@pytest.mark.parametrize("line, message", DEFINITIONS, ids=[line[6:40] for line, _ in DEFINITIONS])
def test_a_bad_job_definition_is_named_with_its_fix(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, line: str, message: str
) -> None:
    module = f"m{abs(hash(line)) % 10**8}"
    (tmp_path / f"{module}.py").write_text(
        f"from scheduler_proc import Jobs\njobs = Jobs()\n\n{line}\ndef f() -> None: ...\n"
    )
    environment.syspath_prepend(str(tmp_path))
    environment.setenv("SCHEDULER_JOBS", f"{module}:jobs")
    code, output = _cli(capsys, "next", "x")
    _assert_clear(code, output, message)


# -- deploy arguments: (argv of python -m deploy, what the message must say) --------------------------
DEPLOY = [
    (["--app", "."], r"argument --app: '\.' is not a usable app name"),
    (["--app", ".."], r"argument --app: '\.\.' is not a usable app name"),
    (["--app", ""], r"argument --app: '' is not a usable app name"),
    (["--app", "demo; echo INJECTED"], r"'demo; echo INJECTED' is not a usable app name"),
    (["--app", "demo\nExecStartPre=/bin/sh"], r"is not a usable app name"),
    (["--app", "Demo"], r"'Demo' is not a usable app name: .* lowercase letters"),
    (["--app", "a" * 40], r"is not a usable app name: .* 1-32"),
    (["--port", "-5"], r"argument --port: '-5' is not a TCP port; use a number from 1024 to 65535"),
    (["--port", "99999"], r"argument --port: '99999' is not a TCP port"),
    (["--port", "http"], r"argument --port: 'http' is not a TCP port"),
    (["--destdir", "/"], r"DESTDIR=/ is the machine itself; leave DESTDIR unset"),
    (["--python", "python3"], r"'python3' is not an executable given by its absolute path"),
    (["--redis", "remote"], r"argument --redis: REDIS must be local \(install one here\) or a URL such as redis://"),
    (["fly"], r"argument action: invalid choice: 'fly'"),
    (["--project", "/no/such/project"], r"argument --project: '/no/such/project' is not a directory; give your"),
    (["--project", "/tmp", "--asgi", "shop.main:app"], r"argument --jobs: required with --project: .*JOBS=shop"),
    (["--asgi", "shop main"], r"argument --asgi: 'shop main' is not an app path; use package\.module:attribute"),
    (["--asgi", "shop.main:app"], r"argument --asgi: only with --project \(PROJECT=/path\)"),
    (["--jobs", "shop.jobs"], r"argument --jobs: 'shop\.jobs' is not a jobs path: use package\.module:attribute"),
    (["--jobs", "shop.jobs:jobs"], r"argument --jobs: only with --project"),
    (
        ["--find-links", "/no/wheels"],
        r"argument --find-links: '/no/wheels' is not a directory; give a directory of wheels",
    ),
    (["--health-prefix", "scheduler/"], r"argument --health-prefix: 'scheduler/' is not the path .* /scheduler"),
]


@pytest.mark.processes
@pytest.mark.parametrize("argv, message", DEPLOY, ids=[" ".join(a)[:30] for a, _ in DEPLOY])
def test_bad_deploy_arguments_are_refused_before_anything_is_done(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], message: str
) -> None:
    stage = tmp_path / "stage"
    result = subprocess.run(
        [sys.executable, "-m", "deploy", "--destdir", str(stage), *argv],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    _assert_clear(result.returncode, result.stdout + result.stderr, message)
    assert not stage.exists() or not any(stage.rglob("*")), "something was written"


# Issue 23 item 20: the gunicorn config's own variables, as real gunicorn loads the kit's config
# (`--check-config`): (variable, value, message). One line, never a traceback, never a 500 later.
GUNICORN_CONFIG = [
    ("WEB_CONCURRENCY", "0", r"WEB_CONCURRENCY='0' is invalid: use a whole number from 1 to 1024"),
    ("WEB_CONCURRENCY", "99999", r"WEB_CONCURRENCY='99999' is invalid: use a whole number from 1 to 1024"),
    ("WEB_CONCURRENCY", "\u0663", r"WEB_CONCURRENCY='\u0663' is invalid: use a whole number from 1 to 1024"),
    ("GRACEFUL_TIMEOUT", "soon", r"GRACEFUL_TIMEOUT='soon' is invalid: use a whole number from 0 to 86400"),
    ("GRACEFUL_TIMEOUT", "-1", r"GRACEFUL_TIMEOUT='-1' is invalid: use a whole number from 0 to 86400"),
    ("GRACEFUL_TIMEOUT", "1e3", r"GRACEFUL_TIMEOUT='1e3' is invalid: use a whole number from 0 to 86400"),
    ("GRACEFUL_TIMEOUT", "\uff13\uff10", r"GRACEFUL_TIMEOUT='.*' is invalid: use a whole number from 0 to 86400"),
    ("WORKER_CLASS", "sync", r"WORKER_CLASS='sync' is a WSGI worker: .* use uvicorn_worker.UvicornWorker"),
    ("WORKER_CLASS", "gthread", r"WORKER_CLASS='gthread' is a WSGI worker: .* use uvicorn_worker.UvicornWorker"),
    ("WORKER_CLASS", "egg:gunicorn#sync", r"WORKER_CLASS='egg:gunicorn#sync' is a WSGI worker"),
    ("WORKER_CLASS", "gunicorn.workers.sync.SyncWorker", r"WORKER_CLASS='gunicorn.workers.sync.SyncWorker' is a WSGI"),
    ("WORKER_CLASS", "gevent", r"WORKER_CLASS='gevent' is a WSGI worker"),
]


@pytest.mark.processes
@pytest.mark.parametrize("name, value, message", GUNICORN_CONFIG, ids=[f"{n}={v}" for n, v, _ in GUNICORN_CONFIG])
def test_a_bad_gunicorn_variable_stops_gunicorn_with_one_line(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDULER_")}
    env.update({name: value, "SCHEDULER_LOCK_DIR": str(tmp_path / "run"), "SCHEDULER_STATE_DIR": str(tmp_path / "s")})
    result = subprocess.run(
        [GUNICORN, "-c", "gunicorn.conf.py", "--check-config"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
    )
    _assert_clear(result.returncode, result.stdout + result.stderr, rf"gunicorn config: {message}")


@pytest.mark.processes
@pytest.mark.parametrize("value", ["abc", "-2", "2.5"])
def test_web_concurrency_gunicorn_reads_itself_is_named_first(tmp_path: Path, value: str) -> None:
    """gunicorn reads WEB_CONCURRENCY itself (int(), then "must be positive") before any config:
    `make run` and `make check-config` check the config's variables first, with the kit's message."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDULER_")}
    env.update(WEB_CONCURRENCY=value, SCHEDULER_LOCK_DIR=str(tmp_path / "run"), SCHEDULER_STATE_DIR=str(tmp_path))
    result = subprocess.run(
        ["make", "--no-print-directory", "check-config"], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT
    )
    output = result.stdout + result.stderr
    _assert_clear(result.returncode, output, rf"gunicorn config: WEB_CONCURRENCY='{value}' is invalid: use a whole")
    assert "ValueError" not in output and "must be positive" not in output


def test_a_bad_number_in_the_env_file_names_the_file_and_the_line(tmp_path: Path) -> None:
    deploy_tool = deploy_module()

    layout = deploy_tool.Layout(tmp_path, "demo")
    layout.etc.mkdir(parents=True)
    layout.env_file.write_text("GRACEFUL_TIMEOUT=soon\n")
    with pytest.raises(deploy_tool.DeployError, match=r"/etc/demo/env: GRACEFUL_TIMEOUT='soon' is not a number"):
        deploy_tool.install_unit(layout, False)


# -- CLI arguments: (argv, what the message must say) ----------------------------------------------
CLI = [
    (["history"], r"the following arguments are required: job"),
    (["history", "tick", "--limit", "x"], r"argument --limit: 'x' is not a whole number from 1 to 1000"),
    (["history", "tick", "--limit", "\u0663"], r"argument --limit: '\u0663' is not a whole number from 1 to 1000"),
    (["history", "tick", "--limit", "0"], r"argument --limit: '0' is not a whole number from 1 to 1000"),
    (["next", "tick", "--count", "\uff15"], r"argument --count: '\uff15' is not a whole number from 1 to 10000"),
    (["next", "tick", "--count", "1_0"], r"argument --count: '1_0' is not a whole number from 1 to 10000"),
    (
        ["next", "tick", "--after", "9999-12-31T23:59:59+00:00"],
        r"argument --after: '9999-12-31T23:59:59\+00:00' is outside the years 2-9998 .*; use a time within them",
    ),
    (
        ["next", "tick", "--after", "0001-01-01T00:00:00+01:00"],
        r"argument --after: '0001-01-01T00:00:00\+01:00' is outside the years 2-9998",
    ),
    (["next", "tick", "--count", "0"], r"argument --count: '0' is not a whole number from 1 to 10000"),
    (["next", "tick", "--after", "soon"], r"argument --after: 'soon' is not an ISO 8601 time"),
    (["fly"], r"argument command: invalid choice: 'fly'"),
    (["run"], r"the following arguments are required: job"),
    (["pause", "nope"], r"no scheduler runs on node .*; start gunicorn with the kit's config"),
    (["next", "nope"], r"unknown job 'nope' in SCHEDULER_JOBS='ticker:jobs'; known jobs: tick"),
]


@pytest.mark.parametrize("argv, message", CLI, ids=[" ".join(a) for a, _ in CLI])
def test_bad_cli_arguments(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    environment.setenv("SCHEDULER_JOBS", "ticker:jobs")
    environment.syspath_prepend(str(ROOT / "tests" / "jobsets"))
    try:
        code, output = _cli(capsys, *argv)
    except SystemExit as exit_:  # argparse's usage errors
        captured = capsys.readouterr()
        code, output = int(exit_.code or 0), captured.out + captured.err
    _assert_clear(code, output, message)


# -- local files the CLI would trust: (what is wrong with the lock directory, message) --------------
LOCK_DIRS = [
    ("owned by another user", r"belongs to uid 65534, not to this user"),
    ("writable by others", r"is writable by others, so it is not trusted"),
    ("a symlink", r"is not a real directory, so it is not trusted"),
    ("under a parent others may write", r"lies under .*, which others may write to \(mode 0777, no sticky bit\)"),
]


@pytest.mark.parametrize("problem, message", LOCK_DIRS, ids=[p for p, _ in LOCK_DIRS])
def test_a_lock_directory_someone_else_could_control_is_not_trusted(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, problem: str, message: str
) -> None:
    lock_dir = tmp_path / "run"
    if problem == "under a parent others may write":
        parent = tmp_path / "shared"
        parent.mkdir(mode=0o777)
        os.chmod(parent, 0o777)
        lock_dir = parent / "run"
    if problem == "a symlink":
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        lock_dir.symlink_to(tmp_path / "elsewhere")
    else:
        lock_dir.mkdir(mode=0o700)
    if problem == "owned by another user":
        os.chown(lock_dir, 65534, 65534)
    if problem == "writable by others":
        os.chmod(lock_dir, 0o777)
    (lock_dir / "scheduler.lock").write_text(json.dumps({"pid": 1, "node": "fake", "since": 0}))
    environment.setenv("SCHEDULER_LOCK_DIR", str(lock_dir))
    code, output = _cli(capsys, "check")
    _assert_clear(code, output, message)
    assert "OK" not in output


# Issue 23 item 18: what sits at the lock path, and the lock directory's ancestors, as the
# CLI meets them: (what is there, commands, message). Run as a child: a FIFO hung the CLI.
LOCK_PATHS = [
    ("a FIFO at the lock path", "check", r"host lock .*/scheduler\.lock is a FIFO, not a regular file; remove it"),
    ("a FIFO at the lock path", "status", r"host lock .*/scheduler\.lock is a FIFO, not a regular file; remove it"),
    ("a directory at the lock path", "check", r"host lock .*/scheduler\.lock is a directory, not a regular file"),
    ("a directory at the lock path", "status", r"host lock .*/scheduler\.lock is a directory, not a regular"),
    ("a socket at the lock path", "check", r"host lock .*/scheduler\.lock is a socket, not a regular file"),
    ("a symlink at the lock path", "check", r"host lock .*/scheduler\.lock is a symlink, not a regular file"),
    ("an ancestor symlink", "check", r"SCHEDULER_LOCK_DIR='.*/link/run' lies under .*/link, a symlink to '.*/real'"),
    ("an ancestor symlink", "status", r"lies under .*/link, a symlink to .*; point the setting at the real path"),
    ("another user's ancestor symlink", "check", r"lies under .*/link, a symlink to .*; point the setting at the"),
]


@pytest.mark.processes
@pytest.mark.parametrize("problem, command, message", LOCK_PATHS, ids=[f"{p} {c}" for p, c, _ in LOCK_PATHS])
def test_what_sits_at_the_lock_path_is_checked_before_it_is_read(
    tmp_path: Path, problem: str, command: str, message: str
) -> None:
    import socket

    lock_dir = tmp_path / "run"
    if "ancestor" in problem:
        (tmp_path / "real").mkdir(mode=0o700)
        (tmp_path / "link").symlink_to(tmp_path / "real")
        if problem.startswith("another user's"):
            os.lchown(tmp_path / "link", 65534, 65534)
        lock_dir = tmp_path / "link" / "run"
    lock_dir.mkdir(mode=0o700)
    lock = lock_dir / "scheduler.lock"
    if "FIFO" in problem:
        os.mkfifo(lock, 0o600)
    elif "directory at" in problem:
        lock.mkdir(mode=0o700)
    elif "socket" in problem:
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(lock))
        listener.close()
    elif "symlink at" in problem:
        (lock_dir / "elsewhere.lock").write_text(json.dumps({"pid": 1, "node": "fake", "since": 0}))
        lock.symlink_to(lock_dir / "elsewhere.lock")
    else:
        lock.write_text(json.dumps({"pid": 1, "node": "fake", "since": 0}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDULER_")}
    env.update(SCHEDULER_LOCK_DIR=str(lock_dir), SCHEDULER_STATE_DIR=str(tmp_path / "state"))
    env.update(SCHEDULER_NAMESPACE="scheduler", SCHEDULER_READ_TOKEN=READ)
    result = subprocess.run(
        [sys.executable, "-m", "scheduler_proc", command], capture_output=True, text=True, timeout=20, env=env
    )
    _assert_clear(result.returncode, result.stdout + result.stderr, message)
    assert "OK" not in result.stdout


# /metrics reads its file as status files are read: (what is at the metrics path). Each must give
# no metrics (never another file's content) at once, not hang the worker on a FIFO.
METRICS_FILES = ["a FIFO", "a symlink to another file", "a directory", "another user's file"]


@pytest.mark.parametrize("problem", METRICS_FILES)
def test_metrics_are_read_with_the_checks_status_files_get(
    environment: pytest.MonkeyPatch, tmp_path: Path, problem: str
) -> None:
    import threading

    from scheduler_proc.settings import Settings
    from scheduler_proc.web.ops import Operations

    settings = Settings.from_env()
    settings.lock_dir.mkdir(mode=0o700)
    path = settings.metrics_path(4242)
    elsewhere = tmp_path / "elsewhere.prom"
    elsewhere.write_text(f"# {SECRET}\n")
    if problem == "a FIFO":
        os.mkfifo(path, 0o600)
    elif problem == "a symlink to another file":
        path.symlink_to(elsewhere)
    elif problem == "a directory":
        path.mkdir()
    else:
        path.write_text(f"# {SECRET}\n")
        os.chown(path, 65534, 65534)
    answers: list[bytes] = []
    reader = threading.Thread(target=lambda: answers.append(Operations(settings).metrics(4242)), daemon=True)
    reader.start()
    reader.join(10)
    assert answers == [b""], f"{problem}: {answers or 'no answer within 10 s'}"


# -- HTTP parameters and stored data, on a real host --------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Host, RedisServer]]:
    """One cluster-mode host with admin and read tokens, on a real Redis."""
    tmp = tmp_path_factory.mktemp("sweep")
    redis_server = RedisServer(tmp / "redis").start()
    host = Host(
        tmp,
        "node-a",
        "reports:jobs",
        env={
            "SCHEDULER_REDIS_URL": redis_server.url,
            "SCHEDULER_LEASE_TTL": "1",
            "SCHEDULER_ADMIN_TOKEN": TOKEN,
            "SCHEDULER_READ_TOKEN": READ,
        },
    )
    host.start()
    try:
        wait_for(lambda: read_fires(host.fire_log), 20, "a first fire")
        yield host, redis_server
    finally:
        host.kill_everything()
        redis_server.kill()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


HTTP = [
    ("GET", "/scheduler/status", {}, 401, r"missing or wrong bearer token \(SCHEDULER_READ_TOKEN\)"),
    ("GET", "/scheduler/status", _bearer("wrong-token-000000000"), 401, r"missing or wrong bearer token"),
    ("GET", "/scheduler/overview", {}, 401, r"missing or wrong bearer token \(SCHEDULER_READ_TOKEN\)"),
    ("GET", "/metrics", {}, 401, r"SCHEDULER_READ_TOKEN"),
    ("GET", "/scheduler/jobs/nope", _bearer(READ), 404, r"unknown job 'nope'; known jobs: "),
    ("GET", "/scheduler/jobs/tick?limit=0", _bearer(READ), 422, r"greater than or equal to 1"),
    ("GET", "/scheduler/jobs/tick?limit=99999", _bearer(READ), 422, r"less than or equal to 1000"),
    ("GET", "/scheduler/jobs/tick?limit=many", _bearer(READ), 422, r"valid integer"),
    ("POST", "/scheduler/jobs/tick/run", {}, 401, r"missing or wrong bearer token"),
    ("POST", "/scheduler/jobs/tick/run", _bearer(READ), 401, r"missing or wrong bearer token"),
    ("POST", "/scheduler/jobs/nope/run", _bearer(TOKEN), 404, r"unknown job 'nope'"),
    ("POST", "/scheduler/jobs/tick/fly", _bearer(TOKEN), 404, r"Not Found"),
]


@pytest.mark.parametrize("method, path, headers, status, message", HTTP, ids=[f"{m} {p} {s}" for m, p, _, s, _ in HTTP])
def test_bad_http_requests_get_a_4xx_that_says_why(
    served: tuple[Host, RedisServer], method: str, path: str, headers: dict[str, str], status: int, message: str
) -> None:
    import re

    host, _ = served
    response = httpx.request(method, f"http://127.0.0.1:{host.port}{path}", headers=headers, timeout=10)
    assert response.status_code == status, response.text
    assert re.search(message, response.text), response.text
    if message != "Not Found":  # the kit's routers answered: its error body (a path outside them is the app's)
        assert re.fullmatch("[a-z_]+", response.json()["code"]), response.text
    assert SECRET not in response.text and TOKEN not in response.text and READ not in response.text


# Issue 23 item 16: every answer of the kit's routers says `Cache-Control: no-store` (a shared
# cache or the browser's must not keep what a token fetched), success and refusal alike.
NO_STORE = [
    ("GET", "/scheduler/status", READ, 200),
    ("GET", "/scheduler/overview", READ, 200),
    ("GET", "/scheduler/jobs", READ, 200),
    ("GET", "/scheduler/jobs/tick", TOKEN, 200),
    ("GET", "/metrics", READ, 200),
    ("GET", "/scheduler/status", "wrong-token-000000000", 401),
    ("GET", "/metrics", "", 401),
    ("GET", "/scheduler/jobs/nope", READ, 404),
    ("POST", "/scheduler/jobs/nope/pause", TOKEN, 404),
    ("POST", "/scheduler/jobs/tick/pause", READ, 401),
]


@pytest.mark.parametrize("method, path, token, status", NO_STORE, ids=[f"{m} {p} {s}" for m, p, _, s in NO_STORE])
def test_authenticated_answers_are_not_stored(
    served: tuple[Host, RedisServer], method: str, path: str, token: str, status: int
) -> None:
    host, _ = served
    headers = _bearer(token) if token else {}
    response = httpx.request(method, f"http://127.0.0.1:{host.port}{path}", headers=headers, timeout=10)
    assert response.status_code == status, response.text
    assert response.headers.get("cache-control") == "no-store", response.headers
    assert TOKEN not in response.text and READ not in response.text


# HEAD answers wherever GET does, with GET's status and headers and no body (it was 405).
HEAD = [
    ("/scheduler/", "", 200),
    ("/scheduler/livez", "", 200),
    ("/scheduler/readyz", "", 200),
    ("/scheduler/status", READ, 200),
    ("/scheduler/overview", READ, 200),
    ("/scheduler/jobs", READ, 200),
    ("/scheduler/jobs/tick", READ, 200),
    ("/metrics", READ, 200),
    ("/scheduler/status", "", 401),
    ("/scheduler/jobs/nope", READ, 404),
    ("/healthz", "", 200),
]


@pytest.mark.parametrize("path, token, status", HEAD, ids=[f"HEAD {p} {s}" for p, _, s in HEAD])
def test_head_answers_wherever_get_does(served: tuple[Host, RedisServer], path: str, token: str, status: int) -> None:
    host, _ = served
    headers = _bearer(token) if token else {}
    url = f"http://127.0.0.1:{host.port}{path}"
    response = httpx.head(url, headers=headers, timeout=10)
    assert response.status_code == status, (response.status_code, response.headers)
    assert response.content == b""
    got = httpx.get(url, headers=headers, timeout=10)
    assert got.status_code == status
    assert response.headers.get("content-type") == got.headers.get("content-type")


# The demo app serves no /docs (its page loads scripts from a CDN onto the origin where the status
# page keeps its token) and no /openapi.json to anyone; the status page itself loads no third-party script.
NO_DOCS = [
    ("/docs", ""),
    ("/docs", READ),
    ("/redoc", ""),
    ("/openapi.json", ""),
    ("/openapi.json", READ),
    ("/docs/oauth2-redirect", ""),
]


@pytest.mark.parametrize("path, token", NO_DOCS, ids=[f"{p} {'token' if t else 'anonymous'}" for p, t in NO_DOCS])
def test_the_demo_app_serves_no_api_docs(served: tuple[Host, RedisServer], path: str, token: str) -> None:
    host, _ = served
    response = httpx.get(f"http://127.0.0.1:{host.port}{path}", headers=_bearer(token) if token else {}, timeout=10)
    assert response.status_code == 404, response.text
    assert "cdn" not in response.text.lower() and "swagger" not in response.text.lower()


def test_the_status_page_loads_no_third_party_script(served: tuple[Host, RedisServer]) -> None:
    host, _ = served
    page = host.get("/scheduler/", timeout=10)
    assert page.status_code == 200
    assert "<script src" not in page.text and "//" not in page.headers["content-security-policy"]


# `/scheduler` (no slash) redirects to the page with a relative Location: an absolute one is built
# from the Host header and says http:// behind a TLS proxy.
REDIRECTS = [("GET", "/scheduler"), ("HEAD", "/scheduler"), ("GET", "/scheduler?x=1")]


@pytest.mark.parametrize("method, path", REDIRECTS, ids=[f"{m} {p}" for m, p in REDIRECTS])
def test_the_page_redirect_is_relative(served: tuple[Host, RedisServer], method: str, path: str) -> None:
    host, _ = served
    response = httpx.request(
        method, f"http://127.0.0.1:{host.port}{path}", timeout=10, headers={"Host": "evil.example"}
    )
    assert response.status_code in (307, 308), response.status_code
    assert response.headers["location"] == "./scheduler/", response.headers
    followed = httpx.get(f"http://127.0.0.1:{host.port}/scheduler/", timeout=10)
    assert followed.status_code == 200


# Issue 23 item 20: SCHEDULER_REDIS_CLUSTER=true against a plain Redis (here the host's), from the
# CLI: one line naming the setting and the fix, not redis-py's traceback.
CLUSTER_ON_PLAIN_REDIS = ["status", "check", "jobs", "pause tick"]


@pytest.mark.parametrize("command", CLUSTER_ON_PLAIN_REDIS)
def test_cluster_mode_against_a_plain_redis_says_so(
    served: tuple[Host, RedisServer], environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    _, redis_server = served
    wait_for(lambda: redis_server.client().ping(), 20, "Redis")
    environment.setenv("SCHEDULER_REDIS_URL", redis_server.url)
    environment.setenv("SCHEDULER_REDIS_CLUSTER", "true")
    environment.setenv("SCHEDULER_ADMIN_TOKEN", TOKEN)
    code, output = _cli(capsys, *command.split())
    _assert_clear(
        code,
        output,
        r"SCHEDULER_REDIS_CLUSTER=true but Redis at .* is not a Redis Cluster node \(cluster mode is not enabled "
        r"on it\); unset SCHEDULER_REDIS_CLUSTER for a single Redis, or point SCHEDULER_REDIS_URL at a cluster node",
    )


@pytest.mark.parametrize("path", ["/scheduler/status", "/scheduler/jobs", "/metrics"])
def test_cluster_mode_against_a_plain_redis_answers_503_not_500(
    served: tuple[Host, RedisServer], environment: pytest.MonkeyPatch, path: str
) -> None:
    """The HTTP side of the row above: a worker whose Redis client cannot be made answers 503."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from scheduler_proc.web import routes

    _, redis_server = served
    wait_for(lambda: redis_server.client().ping(), 20, "Redis")
    environment.setenv("SCHEDULER_REDIS_URL", redis_server.url)
    environment.setenv("SCHEDULER_REDIS_CLUSTER", "true")
    app = FastAPI()
    app.include_router(routes.scheduler_router(), prefix="/scheduler")
    app.include_router(routes.metrics_router())
    routes.operations.cache_clear()
    try:
        response = TestClient(app, raise_server_exceptions=False).get(path)
    finally:
        routes.operations.cache_clear()
    assert response.status_code == 503, response.text
    assert "the server's log says more" in response.text and redis_server.url not in response.text
    assert response.headers["cache-control"] == "no-store"


def test_redis_down_answers_503_without_connection_details(served: tuple[Host, RedisServer]) -> None:
    host, redis_server = served
    url = redis_server.url
    redis_server.kill()
    try:
        response = host.get("/scheduler/jobs/tick", timeout=10, headers=_bearer(READ))
        assert response.status_code == 503, response.text
        assert "127.0.0.1" not in response.text and str(redis_server.port) not in response.text
        assert url not in response.text
    finally:
        redis_server.start()
    # The tests after this one share the host: it must answer again (it leads again) before they run.
    wait_for(
        lambda: host.get("/scheduler/jobs/tick", timeout=10, headers=_bearer(READ)).status_code == 200,
        20,
        "the host answering again after Redis came back",
    )


def test_an_untrusted_lock_directory_answers_503_without_its_path(served: tuple[Host, RedisServer]) -> None:
    """Status and metrics alike: 503 that points at the server's log (which names the directory)."""
    host, _ = served
    lock_dir = host.dir / "run"
    os.chmod(lock_dir, 0o777)
    try:
        for path in ("/scheduler/status", "/metrics"):
            response = host.get(path, timeout=10, headers=_bearer(READ))
            assert response.status_code == 503, (path, response.status_code, response.text)
            assert "not trusted; the server's log says why" in response.text and str(lock_dir) not in response.text
    finally:
        os.chmod(lock_dir, 0o700)
    assert "is writable by others, so it is not trusted" in host.output()


CORRUPT = [
    ("a history entry that is not JSON", "LPUSH", "not json at all", r"cannot be read; left out"),
    ("a history entry that is JSON but not a run", "LPUSH", json.dumps({"job_id": 5}), r"cannot be read; left out"),
    ("a command whose time is NaN", "XADD", {"id": "c1", "action": "run", "job_id": "tick", "issued_at": "nan"}, None),
    ("a command with no fields it needs", "XADD", {"what": "ever"}, None),
    ("a job error text with terminal escapes", "LPUSH", None, None),
    ("a run whose start is a string", "LPUSH", {"started_at": "soon"}, r"history entr.* of job 'tick' cannot be read"),
    ("a run whose start is null", "LPUSH", {"started_at": None}, r"history entr.* of job 'tick' cannot be read"),
    ("a run whose term is a string", "LPUSH", {"term": "7"}, r"history entr.* of job 'tick' cannot be read"),
    ("a run of a later version's outcome", "LPUSH", {"outcome": "vanished"}, r"history entr.* of job 'tick' cannot"),
]

_RUN = {
    "job_id": "tick",
    "run_id": "r1",
    "scheduled_at": "2026-01-01T00:00:00+00:00",
    "node": "n",
    "term": 1,
    "trigger": "schedule",
    "started_at": 1.0,
    "finished_at": 2.0,
    "outcome": "success",
    "error": None,
}


@pytest.mark.parametrize("what, command, value, logged", CORRUPT, ids=[c[0] for c in CORRUPT])
def test_corrupt_stored_data_is_skipped_not_served_as_an_error(
    served: tuple[Host, RedisServer], what: str, command: str, value: object, logged: str | None
) -> None:
    host, redis_server = served
    client = redis_server.client()
    wait_for(lambda: client.ping(), 10, "Redis")
    if command == "LPUSH" and value is None:
        run = {**_RUN, "run_id": "evil", "outcome": "error", "error": "\x1b[2J\x1b]0;pwned\x07"}
        client.lpush("{scheduler}:history:tick", json.dumps(run))
    elif command == "LPUSH" and isinstance(value, dict):
        client.lpush("{scheduler}:history:tick", json.dumps({**_RUN, **value}))
    elif command == "LPUSH":
        client.lpush("{scheduler}:history:tick", str(value))
    else:
        assert isinstance(value, dict), "an XADD row gives the entry's fields"
        client.xadd("{scheduler}:commands", value)
    response = host.get("/scheduler/jobs/tick?limit=1000", timeout=10, headers=_bearer(READ))
    assert response.status_code == 200, response.text
    overview = host.get("/scheduler/overview", timeout=10, headers=_bearer(READ))
    assert overview.status_code == 200 and overview.json()["recent_runs"] is not None, overview.text
    if command == "LPUSH":
        history = host.cli("history", "tick", "--limit", "1000", env={"SCHEDULER_READ_TOKEN": READ})
        assert history.returncode == 0 and "Traceback" not in history.stderr, history
    if logged:
        host.wait_log(logged)
    if value is None:
        history = host.cli("history", "tick", "--limit", "1000", env={"SCHEDULER_READ_TOKEN": READ})
        assert history.returncode == 0 and "\x1b" not in history.stdout and "\\x1b[2J" in history.stdout, history
    wait_for(lambda: len(host.runner_pids()) == 1, 5, "the runner still running")
    assert "Traceback" not in host.output()
