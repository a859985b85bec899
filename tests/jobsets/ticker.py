"""A 1-second job that appends each run to $FIRE_LOG; VERSION marks which code ran."""

from __future__ import annotations

import json
import os
import time

from scheduler_proc import Jobs, RunContext

VERSION = 1
jobs = Jobs()


def record(ctx: RunContext, **extra: object) -> None:
    line = {
        "job": ctx.job_id,
        "scheduled_at": ctx.scheduled_at.isoformat(),
        "node": ctx.node,
        "pid": os.getpid(),
        "term": ctx.fencing_token,
        "started": time.time(),
        **extra,
    }
    with open(os.environ["FIRE_LOG"], "a") as log:
        log.write(json.dumps(line) + "\n")


@jobs.every(seconds=1, id="tick")
def tick(ctx: RunContext) -> None:
    record(ctx, version=VERSION)
