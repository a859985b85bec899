"""The ready-made gunicorn configuration (scheduler_proc/gunicorn_conf.py), read as gunicorn's master
would from the environment: ``python -m scheduler_proc.gunicorn_conf`` in a fresh interpreter per
case (the values are read at import). Under a real master: tests/integration/test_bad_input_sweep.py."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.processes  # a fresh interpreter per case
_VARIABLES = ("BIND", "WEB_CONCURRENCY", "WORKER_CLASS", "GRACEFUL_TIMEOUT")


def _check(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in _VARIABLES}
    return subprocess.run(
        [sys.executable, "-m", "scheduler_proc.gunicorn_conf"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_the_defaults() -> None:
    result = _check()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "gunicorn config: OK (bind 127.0.0.1:8000, 2 workers of uvicorn_worker.UvicornWorker, graceful timeout 30s)"
    )


def test_values_from_the_environment() -> None:
    result = _check(BIND="0.0.0.0:9000", WEB_CONCURRENCY="4", WORKER_CLASS="asgi", GRACEFUL_TIMEOUT="0")
    assert "bind 0.0.0.0:9000, 4 workers of asgi, graceful timeout 0s" in result.stdout


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WEB_CONCURRENCY": "abc"}, "WEB_CONCURRENCY='abc' is invalid: use a whole number from 1 to 1024"),
        ({"WEB_CONCURRENCY": "0"}, "WEB_CONCURRENCY='0' is invalid"),
        ({"GRACEFUL_TIMEOUT": "-1"}, "GRACEFUL_TIMEOUT='-1' is invalid: use a whole number from 0 to 86400"),
        ({"WORKER_CLASS": "sync"}, "WORKER_CLASS='sync' is a WSGI worker"),
        ({"WORKER_CLASS": "gunicorn.workers.gthread.ThreadWorker"}, "is a WSGI worker"),
    ],
)
def test_a_bad_value_stops_with_one_line_naming_the_variable(env: dict[str, str], message: str) -> None:
    result = _check(**env)
    assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr
