"""gunicorn settings for the app. The hooks at the bottom run one scheduler process
outside the HTTP workers; see README "How it works". Keep this file declarative."""

import os

from scheduler_proc.master import hooks
from scheduler_proc.web.ready import DEFAULT_BIND

wsgi_app = "app.main:app"
bind = os.environ.get("BIND") or DEFAULT_BIND
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = os.environ.get("WORKER_CLASS", "uvicorn_worker.UvicornWorker")
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT", "30"))
control_socket_disable = True

on_starting = hooks.on_starting
when_ready = hooks.when_ready
on_reload = hooks.on_reload
on_exit = hooks.on_exit
