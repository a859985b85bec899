"""A 1-second tick and an hourly report; both append their runs (with their run id) to $FIRE_LOG."""

from __future__ import annotations

from ticker import record

from scheduler_proc import Jobs, RunContext

jobs = Jobs()


@jobs.every(seconds=1, id="tick")
def tick(ctx: RunContext) -> None:
    record(ctx, run_id=ctx.run_id)


@jobs.every(hours=1, id="report")
def report(ctx: RunContext) -> None:
    record(ctx, run_id=ctx.run_id)
