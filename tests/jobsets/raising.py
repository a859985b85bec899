"""One job that always raises and one that works, to show the first does not stop the second."""

from __future__ import annotations

from scheduler_proc import Jobs

jobs = Jobs()


@jobs.every(seconds=1, id="boom")
def boom() -> None:
    raise ValueError("boom on purpose")


@jobs.every(seconds=1, id="tick")
async def tick() -> None:
    return None
