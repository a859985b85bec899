"""The kit's gunicorn config, serving leaky:app, with a master hook that logs and prints the secrets."""

from __future__ import annotations

import os
from typing import Any

from scheduler_proc.gunicorn_conf import *  # noqa: F403
from scheduler_proc.gunicorn_conf import when_ready as kit_when_ready

wsgi_app = "leaky:app"


def _when_ready_then_leak(server: Any) -> None:
    kit_when_ready(server)
    for secret in os.environ["LEAK_SECRETS"].split(","):
        server.log.info("master logs %s", secret)
        print(f"master prints {secret}", flush=True)


# gunicorn reads the hook by its name: this one replaces the kit's, which the import above brought.
when_ready = _when_ready_then_leak
