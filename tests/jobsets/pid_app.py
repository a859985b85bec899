"""The demo app plus a header naming the worker that answered (tests prove worker-independence with it)."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

from fastapi import Request, Response

from app.main import app


@app.middleware("http")
async def worker_pid_header(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    response = await call_next(request)
    response.headers["X-Worker-Pid"] = str(os.getpid())
    return response
