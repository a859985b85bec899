"""A ready-made gunicorn configuration that runs the scheduler outside the HTTP workers.

Use it as it is::

    gunicorn -c python:scheduler_proc.gunicorn_conf yourpackage.main:app

or take only the hooks into your own ``gunicorn.conf.py`` (gunicorn reads the names a
config module defines, imported ones too)::

    from scheduler_proc.gunicorn_conf import on_exit, on_reload, on_starting, when_ready  # noqa: F401

The settings come from the environment: ``BIND`` (default 127.0.0.1:8000),
``WEB_CONCURRENCY`` (HTTP workers, default 2), ``WORKER_CLASS`` (default uvicorn's
worker for gunicorn; gunicorn's WSGI workers such as ``sync`` are refused) and
``GRACEFUL_TIMEOUT`` (seconds, default 30); with ``SCHEDULER_LOG_FORMAT=json``,
``logconfig_dict`` makes gunicorn's and uvicorn's own log lines JSON objects too (import it
into your own config as well to get that). A bad value stops gunicorn with a message
naming the variable. Only the master imports this module, so it loads nothing of the
scheduler itself (``make lint`` checks that).

gunicorn reads ``WEB_CONCURRENCY`` itself, with ``int()``, before it loads any config: a
value such as ``abc`` gives its traceback first. ``python -m scheduler_proc.gunicorn_conf``
checks these variables alone and exits 1 with the kit's message (``make run`` and ``make
check-config`` run it before gunicorn).
"""

from __future__ import annotations

import os

from scheduler_proc.logs import gunicorn_log_config
from scheduler_proc.master.hooks import on_exit, on_reload, on_starting, when_ready
from scheduler_proc.web.ready import DEFAULT_BIND

__all__ = [
    "bind",
    "control_socket_disable",
    "graceful_timeout",
    "logconfig_dict",
    "on_exit",
    "on_reload",
    "on_starting",
    "when_ready",
    "worker_class",
    "workers",
]


def _whole_number(name: str, default: int, low: int, high: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit() and low <= int(raw) <= high):
        raise SystemExit(f"gunicorn config: {name}={raw!r} is invalid: use a whole number from {low} to {high}")
    return int(raw)


#: gunicorn's own workers that serve WSGI apps only: with one of them every request to the
#: (ASGI) app fails with 500. Its native "asgi" worker is not among them.
_WSGI_WORKERS = ("sync", "gthread", "gevent", "gevent_wsgi", "gevent_pywsgi", "eventlet", "tornado")
_WSGI_MODULES = tuple(f"gunicorn.workers.{name}." for name in ("sync", "gthread", "ggevent", "gtornado"))
_DEFAULT_WORKER = "uvicorn_worker.UvicornWorker"


def _worker_class() -> str:
    raw = os.environ.get("WORKER_CLASS", "").strip()
    if not raw:
        return _DEFAULT_WORKER
    if raw.removeprefix("egg:gunicorn#") in _WSGI_WORKERS or raw.startswith(_WSGI_MODULES):
        raise SystemExit(
            f"gunicorn config: WORKER_CLASS={raw!r} is a WSGI worker: it cannot serve the (ASGI) app and every "
            f"request would fail with 500; use {_DEFAULT_WORKER} (the default: unset WORKER_CLASS)"
        )
    return raw


bind = os.environ.get("BIND") or DEFAULT_BIND
workers = _whole_number("WEB_CONCURRENCY", 2, 1, 1024)
worker_class = _worker_class()
graceful_timeout = _whole_number("GRACEFUL_TIMEOUT", 30, 0, 86400)
logconfig_dict = gunicorn_log_config(os.environ.get("SCHEDULER_LOG_FORMAT", ""))
# gunicorn 25+ opens a control socket under $HOME by default; a service user often has none.
control_socket_disable = True

if __name__ == "__main__":  # `python -m scheduler_proc.gunicorn_conf`: the values above were read and valid
    print(
        f"gunicorn config: OK (bind {bind}, {workers} workers of {worker_class}, graceful timeout {graceful_timeout}s)"
    )
