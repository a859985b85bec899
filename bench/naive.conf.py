"""gunicorn config for the naive patterns (no kit hooks): the app starts APScheduler in each worker."""

import os

wsgi_app = "naive_app:app"
bind = os.environ.get("BIND") or "127.0.0.1:8000"
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
worker_class = "uvicorn_worker.UvicornWorker"
graceful_timeout = 5
control_socket_disable = True
