"""Jobs that give every per-job metric a value: a success, a failure, a skipped and a missed fire.

``hog`` (coalesces) and ``lagger`` (does not) run 2.5 s every second with max_instances=1:
their fires wait for the running one. ``hog`` drops all but its latest waiting fire
(skipped, reason coalesced); ``lagger`` starts its waiting fires in order, and the oldest
is past its 1 s misfire grace by then (missed).
"""

from __future__ import annotations

import time

from scheduler_proc import Jobs

jobs = Jobs()


@jobs.every(seconds=1, id="boom")
def boom() -> None:
    raise ValueError("boom on purpose")


@jobs.every(seconds=1, id="tick")
def tick() -> None:
    return None


@jobs.every(seconds=1, id="hog", max_instances=1, coalesce=True)
def hog() -> None:
    time.sleep(2.5)


@jobs.every(seconds=1, id="lagger", max_instances=1, misfire_grace_time=1)
def lagger() -> None:
    time.sleep(2.5)
