"""A 1-second tick and a job that runs $LONG_SECONDS every 5 s (max_instances=1); both log to $FIRE_LOG."""

from __future__ import annotations

import os
import time

from ticker import record

from scheduler_proc import Jobs, RunContext

jobs = Jobs()


@jobs.every(seconds=1, id="tick")
def tick(ctx: RunContext) -> None:
    record(ctx)


@jobs.every(seconds=5, id="long", max_instances=1, coalesce=True)
def long(ctx: RunContext) -> None:
    record(ctx, event="start")
    deadline = time.monotonic() + float(os.environ.get("LONG_SECONDS", "0"))
    while time.monotonic() < deadline:
        time.sleep(0.05)
    record(ctx, event="end", current=ctx.is_current())
