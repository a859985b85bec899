"""Jobs and an app that print and log every secret they know, in every way a user's code might.

tests/integration/test_masking.py checks that none of it shows: $LEAK_SECRETS lists the values (comma-separated)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

from fastapi import Request, Response
from ticker import record

from app.main import app
from scheduler_proc import Jobs, RunContext

jobs = Jobs()
log = logging.getLogger("leaky")


def _secrets() -> list[str]:
    return os.environ["LEAK_SECRETS"].split(",")


@jobs.every(seconds=1, id="leak")
def leak(ctx: RunContext) -> None:
    for secret in _secrets():
        print(f"job prints {secret}", flush=True)
        print("job prints in pieces", secret)
        sys.stderr.write(f"job writes {secret} to stderr\n")
        log.warning("job logs %s", secret)
        sys.stdout.buffer.write(f"job writes {secret} to the bytes buffer\n".encode())
        sys.stdout.flush()
        os.write(2, f"job writes {secret} to fd 2\n".encode())
        subprocess.run(["sh", "-c", 'echo "a subprocess echoes $0"; echo "and to stderr $0" >&2', secret], check=True)
    log.warning("fencing token=%d for job %s", ctx.fencing_token, ctx.job_id)  # the user's own line
    record(ctx)


@app.get("/leak")
def worker_leak(request: Request) -> Response:
    """A web worker prints and logs the secrets."""
    for secret in _secrets():
        print(f"worker prints {secret}", flush=True)
        logging.getLogger("uvicorn.error").warning("worker logs %s", secret)
    return Response(f"leaked by {os.getpid()}")
