"""Jobs the VM tests deploy as app/jobs.py: a 1-second tick that logs which host ran which second,
and, when $VM_LONG_SECONDS is set in /etc/<app>/env, a job that runs that long every 10 s."""

from __future__ import annotations

import json
import os
import time

from scheduler_proc import Jobs, RunContext

jobs = Jobs()
_LOG = os.path.join(os.environ.get("STATE_DIRECTORY", "/tmp"), "fires.jsonl")


def _record(ctx: RunContext, **extra: object) -> None:
    line = {
        "job": ctx.job_id,
        "scheduled_at": ctx.scheduled_at.isoformat(),
        "node": ctx.node,
        "pid": os.getpid(),
        "term": ctx.fencing_token,
        "started": time.time(),
        "release": os.path.basename(os.getcwd()),
        **extra,
    }
    with open(_LOG, "a") as log:
        log.write(json.dumps(line) + "\n")


@jobs.every(seconds=1, id="tick")
def tick(ctx: RunContext) -> None:
    _record(ctx)


@jobs.every(seconds=10, id="long", max_instances=1)
def long(ctx: RunContext) -> None:
    seconds = float(os.environ.get("VM_LONG_SECONDS") or 0)
    if seconds:
        _record(ctx, event="start")
        time.sleep(seconds)
        _record(ctx, event="end", current=ctx.is_current())
