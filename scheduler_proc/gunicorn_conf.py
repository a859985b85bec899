"""A ready-made gunicorn config: ``gunicorn -c python:scheduler_proc.gunicorn_conf shop.main:app``.

Stand-in for the lead's module of SPEC_21 (same names): BIND (default 127.0.0.1:8000),
WEB_CONCURRENCY (2), WORKER_CLASS (uvicorn_worker.UvicornWorker), GRACEFUL_TIMEOUT (30), and
the kit's four master hooks, which run the scheduler side outside the HTTP workers.
"""

import os

from scheduler_proc.master.hooks import on_exit, on_reload, on_starting, when_ready
from scheduler_proc.web.ready import DEFAULT_BIND

bind = os.environ.get("BIND") or DEFAULT_BIND
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = os.environ.get("WORKER_CLASS", "uvicorn_worker.UvicornWorker")
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT", "30"))
control_socket_disable = True

__all__ = [
    "bind",
    "control_socket_disable",
    "graceful_timeout",
    "on_exit",
    "on_reload",
    "on_starting",
    "when_ready",
    "worker_class",
    "workers",
]
