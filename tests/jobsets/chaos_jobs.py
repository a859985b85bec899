"""make chaos's jobs: a 1-second tick and a max_instances=1 job that runs longer than its period.

Both append a start and an end record (job, scheduled_at, node, pid, term) to $FIRE_LOG, from
which bench/chaos.py counts the runs of each fire and the instances of each job at once. The
long job runs $LONG_SECONDS every 5 s (chaos sets 9), so a fire of it falls due while one runs.
"""

from __future__ import annotations

from liveness import long
from ticker import record

from scheduler_proc import Jobs, RunContext

jobs = Jobs()


@jobs.every(seconds=1, id="tick")
def tick(ctx: RunContext) -> None:
    record(ctx, event="start")
    record(ctx, event="end")


jobs.every(seconds=5, id="long", max_instances=1, coalesce=True)(long)
