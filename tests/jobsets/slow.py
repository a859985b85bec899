"""A job that runs for $SLOW_SECONDS, recording its start and end, to test stop grace."""

from __future__ import annotations

import json
import os
import time

from scheduler_proc import Jobs, RunContext

jobs = Jobs()


@jobs.every(seconds=1, id="slow", max_instances=1)
def slow(ctx: RunContext) -> None:
    path = os.environ["FIRE_LOG"]
    with open(path, "a") as log:
        log.write(
            json.dumps(
                {
                    "job": "slow",
                    "event": "start",
                    "scheduled_at": ctx.scheduled_at.isoformat(),
                    "pid": os.getpid(),
                    "started": time.time(),
                }
            )
            + "\n"
        )
    time.sleep(float(os.environ.get("SLOW_SECONDS", "2")))
    with open(path, "a") as log:
        log.write(
            json.dumps(
                {
                    "job": "slow",
                    "event": "end",
                    "scheduled_at": ctx.scheduled_at.isoformat(),
                    "pid": os.getpid(),
                    "ended": time.time(),
                }
            )
            + "\n"
        )
