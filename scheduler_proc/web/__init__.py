"""The HTTP workers' and the operator's side: routes, the status page, the CLI, the
readiness gate. It reads what the runner publishes and sends commands; it imports no
engine and no jobs runner (`make lint` checks this).

``from scheduler_proc.web import scheduler_router, metrics_router`` imports FastAPI only
when asked, so the CLI and the readiness gate stay light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scheduler_proc.web.routes import metrics_router, scheduler_router

__all__ = ["metrics_router", "scheduler_router"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from scheduler_proc.web import routes

        return getattr(routes, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
