"""gunicorn settings for the demo app: the kit's ready-made config plus the app to serve.

Everything else (BIND, WEB_CONCURRENCY, WORKER_CLASS, GRACEFUL_TIMEOUT and the four hooks
that run one scheduler process outside the HTTP workers) comes from
scheduler_proc/gunicorn_conf.py; see docs/internals.md. Keep this file declarative.
"""

from scheduler_proc.gunicorn_conf import *  # noqa: F403  (settings and hooks: gunicorn reads the names)

wsgi_app = "app.main:app"
