"""The FastAPI app.

Its lifespan runs the scheduler side when the app is served by ``uvicorn --workers N`` or
``fastapi run``; under the kit's gunicorn.conf.py the gunicorn hooks do that and the
lifespan does nothing.
"""

from __future__ import annotations

from fastapi import FastAPI

from scheduler_proc import metrics_router, scheduler_lifespan, scheduler_router

# No /docs, /redoc or /openapi.json: FastAPI serves them to anyone, and /docs loads its scripts
# from a CDN onto the origin where the status page keeps its token (docs/security.md).
app = FastAPI(title="scheduler kit demo", lifespan=scheduler_lifespan, docs_url=None, redoc_url=None, openapi_url=None)
app.include_router(scheduler_router(), prefix="/scheduler")
app.include_router(metrics_router())


@app.api_route("/healthz", methods=["GET", "HEAD"], tags=["health"])  # HEAD too, as the kit's routes
def healthz() -> dict[str, str]:
    """Web liveness: this worker answers."""
    return {"status": "ok"}
