"""Jobs with timeouts: each records its start (with its pid) to $FIRE_LOG, then overstays.

- ``stubborn``: a plain def that ignores SIGTERM and sleeps (it runs in a child process);
- ``slow_async``: an async def that sleeps (it is cancelled);
- ``failing``: a plain def with a timeout that raises (its error reaches the history);
- ``quick``: a plain def with a timeout that ends in time.
"""

from __future__ import annotations

import asyncio
import signal
import time

from ticker import record

from scheduler_proc import Jobs, RunContext

jobs = Jobs()


@jobs.every(seconds=5, id="stubborn", timeout=3)  # a process start and the import count too
def stubborn(ctx: RunContext) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    record(ctx)
    time.sleep(60)


@jobs.every(seconds=3, id="slow_async", timeout=1)
async def slow_async(ctx: RunContext) -> None:
    record(ctx)
    await asyncio.sleep(60)


@jobs.every(seconds=3, id="failing", timeout=5)
def failing(ctx: RunContext) -> None:
    raise ValueError("no such customer 42")


@jobs.every(seconds=3, id="quick", timeout=5)
def quick(ctx: RunContext) -> None:
    record(ctx, current=ctx.is_current())
