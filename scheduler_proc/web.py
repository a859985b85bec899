"""HTTP side: a FastAPI router that reports the scheduler's real state from any worker."""

from __future__ import annotations

import functools
import os
from typing import Any

from fastapi import APIRouter

from scheduler_proc.hostlock import read_holder
from scheduler_proc.settings import Settings
from scheduler_proc.status import read_status


@functools.lru_cache(maxsize=1)
def _settings() -> Settings:
    return Settings.from_env()


def host_status(settings: Settings, master_pid: int) -> dict[str, Any]:
    """This master's scheduler role, and the process that runs jobs on this host.

    Every worker reads the same files (the host lock and the status files the
    scheduler processes publish), so any worker gives the same answer.
    """
    own = read_status(settings.status_path(master_pid))
    holder = read_holder(settings.lock_path)
    active = read_status(settings.status_path(holder.master_pid)) if holder else None
    role = "disabled" if not settings.enabled else str(own["role"]) if own else "stopped"
    source = active or own or {}
    return {
        "node": settings.node_id,
        "role": role,
        "pid": holder.pid if holder else None,
        "leader_node": holder.node if holder else None,
        "mode": source.get("mode", "single-host"),
        "cluster": (own or source).get("cluster", {}),
        "jobs": source.get("jobs", []),
        "updated_at": source.get("updated_at"),
    }


def status_router() -> APIRouter:
    """Mount under a prefix, for example ``app.include_router(status_router(), prefix="/scheduler")``."""
    router = APIRouter(tags=["scheduler"])

    @router.get("/status", summary="Scheduler state on this host")
    def scheduler_status() -> dict[str, Any]:
        return host_status(_settings(), os.getppid())

    return router
