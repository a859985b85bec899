"""The FastAPI app. It never starts a scheduler: gunicorn.conf.py's hooks do that."""

from __future__ import annotations

from fastapi import FastAPI

from scheduler_proc.web import metrics_router, scheduler_router

app = FastAPI(title="scheduler kit demo")
app.include_router(scheduler_router(), prefix="/scheduler")
app.include_router(metrics_router())


@app.get("/healthz", tags=["health"])
def healthz() -> dict[str, str]:
    """Web liveness: this worker answers."""
    return {"status": "ok"}
