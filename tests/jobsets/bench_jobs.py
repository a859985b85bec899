"""Jobs for make bench: $BENCH_JOBS jobs every $BENCH_INTERVAL s; each records its lag to $FIRE_LOG.

BENCH_CPU=1 makes one extra job burn CPU for ~0.8 s each second (web impact under load).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from scheduler_proc import Jobs, RunContext

jobs = Jobs(misfire_grace_time=60)
# Kept open, line-buffered, like the plain APScheduler baseline's, so both pay the same per run.
_LOG = open(os.environ.get("FIRE_LOG", "/dev/null"), "a", buffering=1)  # noqa: SIM115


def _make(index: int) -> Callable[[RunContext], None]:
    def job(ctx: RunContext) -> None:
        started = time.time()
        _LOG.write(f"{index} {ctx.scheduled_at.timestamp():.6f} {started:.6f}\n")

    return job


for _i in range(int(os.environ.get("BENCH_JOBS", "0"))):
    jobs.every(seconds=float(os.environ.get("BENCH_INTERVAL", "1")), id=f"bench-{_i}")(_make(_i))

if os.environ.get("BENCH_LONG"):

    @jobs.every(seconds=5, id="long", max_instances=1)
    def long() -> None:
        """A job that is still running when the bench stops its leader."""
        time.sleep(float(os.environ["BENCH_LONG"]))


if os.environ.get("BENCH_CPU") == "1":

    @jobs.every(seconds=1, id="burn")
    def burn() -> None:
        deadline = time.process_time() + 0.8
        while time.process_time() < deadline:
            pass
