"""A job that kills its process with exit status 3, which old gunicorns treat as fatal."""

from __future__ import annotations

import os

from scheduler_proc import Jobs

jobs = Jobs()


@jobs.every(seconds=1, id="exit3")
def exit3() -> None:
    os._exit(3)
