"""Jobs that fail, for retries: each call records its attempt (run id, fencing token) to $FIRE_LOG.

- ``flaky``: fails on its first two calls of a fire, then succeeds (retries=3);
- ``hopeless``: always fails (retries=2);
- ``slow``: times out (retries=2, but a timeout is not retried without retry_timeouts);
- ``crowded``: every 3 s, always fails, with retries whose waits (1, then 2 s) reach its next fire.
"""

from __future__ import annotations

import asyncio
import json
import os

from ticker import record

from scheduler_proc import Jobs, RunContext

jobs = Jobs()


def _calls(ctx: RunContext) -> int:
    """This call's number among the calls of its fire (1 first), counted in $FIRE_LOG."""
    if not os.path.exists(os.environ["FIRE_LOG"]):
        return 0
    with open(os.environ["FIRE_LOG"]) as log:
        return sum(1 for line in log if json.loads(line).get("run_id") == ctx.run_id)


@jobs.every(seconds=10, id="flaky", retries=3, retry_delay=0.2)
def flaky(ctx: RunContext) -> None:
    record(ctx, run_id=ctx.run_id)
    if _calls(ctx) < 3:
        raise RuntimeError("the API said 503")


@jobs.every(seconds=10, id="hopeless", retries=2, retry_delay=0.2)
def hopeless(ctx: RunContext) -> None:
    record(ctx, run_id=ctx.run_id)
    raise RuntimeError("always")


@jobs.every(seconds=10, id="slow", timeout=0.5, retries=2, retry_delay=0.2)
async def slow(ctx: RunContext) -> None:
    record(ctx, run_id=ctx.run_id)
    await asyncio.sleep(30)


@jobs.every(seconds=3, id="crowded", retries=5, retry_delay=1)
def crowded(ctx: RunContext) -> None:
    record(ctx, run_id=ctx.run_id)
    raise RuntimeError("down")
