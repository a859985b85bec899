"""Imports fine until $CRASH_MARKER exists; from then on every import kills the process."""

import os

from scheduler_proc import Jobs

if os.path.exists(os.environ["CRASH_MARKER"]):
    os._exit(1)

jobs = Jobs()


@jobs.every(seconds=1, id="tick")
def tick() -> None: ...
