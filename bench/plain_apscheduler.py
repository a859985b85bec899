"""Baseline for make bench: plain in-process APScheduler 3 with the same jobs, no kit.

Usage: plain_apscheduler.py COUNT INTERVAL SECONDS OUTPUT. Each run appends
'index scheduled started' like the kit's bench jobs, computing the scheduled time from
the epoch-aligned interval.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger


def main() -> None:
    count, interval, seconds, output = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    log = open(output, "a", buffering=1)  # noqa: SIM115 - open for the whole run

    def make(index: int) -> Callable[[], None]:
        def job() -> None:
            started = time.time()
            scheduled = math.floor(started / interval) * interval
            log.write(f"{index} {scheduled:.6f} {started:.6f}\n")

        return job

    scheduler = BackgroundScheduler(executors={"default": ThreadPoolExecutor(10)}, timezone=UTC)
    anchor = datetime(1970, 1, 1, tzinfo=UTC)
    for index in range(count):
        scheduler.add_job(
            make(index),
            IntervalTrigger(seconds=interval, start_date=anchor),
            id=str(index),
            misfire_grace_time=60,
            coalesce=False,
            max_instances=1,
        )
    scheduler.start()
    time.sleep(seconds)
    scheduler.shutdown(wait=True)


if __name__ == "__main__":
    main()
