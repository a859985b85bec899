"""A 1-second tick, and a job that deadlocks the dispatch loop once $FREEZE_FLAG exists.

The job takes APScheduler's own job store lock and keeps it: the scheduler's next pass
blocks on it forever, as a deadlock in real code would.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from ticker import record

from scheduler_proc import Jobs, RunContext

jobs = Jobs()


@jobs.every(seconds=1, id="tick")
def tick(ctx: RunContext) -> None:
    record(ctx)


@jobs.every(seconds=1, id="freeze")
def freeze_the_dispatch_loop(ctx: RunContext) -> None:
    flag = Path(os.environ["FREEZE_FLAG"])
    if not flag.exists():
        return
    flag.unlink()
    record(ctx, event="freeze")
    loop = next(thread for thread in threading.enumerate() if thread.name == "APScheduler")
    # On purpose: the lock of APScheduler's own loop, reached through privates no type declares.
    loop._target.__self__._jobstores_lock.acquire()  # type: ignore[attr-defined]
    time.sleep(3600)
