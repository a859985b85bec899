"""The naive pattern the kit replaces: APScheduler started in every worker's startup event.

NAIVE_LOCK=1 adds the usual fix: a Redis lock taken non-blocking (60 s timeout) inside the
job and released when it ends. Each run appends to $FIRE_LOG like the kit's test jobs.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import redis
from apscheduler.schedulers.background import BackgroundScheduler
from fastapi import FastAPI


def tick() -> None:
    now = time.time()
    if os.environ.get("NAIVE_LOCK") == "1":
        client = redis.Redis.from_url(os.environ["NAIVE_REDIS_URL"])
        lock = client.lock("naive:tick", timeout=60, blocking=False)
        if not lock.acquire(blocking=False):
            return
        try:
            _record(now)
        finally:
            lock.release()
    else:
        _record(now)


def _record(now: float) -> None:
    line = {
        "job": "tick",
        "scheduled_at": datetime.fromtimestamp(int(now), tz=UTC).isoformat(),
        "node": os.environ.get("SCHEDULER_NODE_ID", socket.gethostname()),
        "pid": os.getpid(),
        "term": None,
        "started": now,
    }
    with open(os.environ["FIRE_LOG"], "a") as log:
        log.write(json.dumps(line) + "\n")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    scheduler = BackgroundScheduler()
    scheduler.add_job(tick, "interval", seconds=1, start_date=datetime(2000, 1, 1, tzinfo=UTC))
    scheduler.start()
    yield
    scheduler.shutdown(wait=False)


app = FastAPI(lifespan=lifespan)


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/scheduler/status")
def status() -> dict[str, str]:
    return {"role": "leader"}
