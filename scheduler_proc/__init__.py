"""Exactly-once APScheduler jobs for gunicorn + FastAPI: one scheduler process per host or cluster.

Three kinds of process, one subpackage each, and shared modules at the top:

- ``master/``: in the gunicorn master (or uvicorn's lifespan): starts and stops the supervisor.
- ``supervisor/``: keeps one runner alive; never imports the jobs.
- ``runner/``: APScheduler, the user's jobs, the fire path.
- ``web/``: in the HTTP workers and the CLI: routes, status page, commands.
- ``coordination/``: the host lock, the lease, the ledgers and the command bus they share.

Glossary (the names in the code mean this and nothing else):

- **job**: a function registered with ``Jobs``, with a trigger.
- **fire**: one scheduled time of one job (``job id`` + ``scheduled_at``), or one "run now".
- **claim**: the record, in the ledger, that one run has taken a fire; a fire is claimed at
  most once, so it runs at most once.
- **run**: one execution of a claimed fire, with an id, an outcome and a duration.
- **ledger**: where claims and runs are kept: SQLite on one host, Redis in a cluster.
- **lease**: the Redis key a cluster leader holds with a TTL and renews.
- **term**: one holding of the lease (or of the host lock), numbered by a strictly
  increasing **fencing token**; a claim names its term and is refused once the term is over.
- **leader**: the one scheduler that claims and runs fires; a **standby** waits to lead.
- **supervisor**: the process the master starts; **runner**: the process it starts, which
  runs APScheduler and the jobs. Inside the runner, the **executor** takes the fires
  APScheduler finds due, the **dispatcher** claims them, and job threads run them; a fire
  between its claim and the end of its run is a **flight**.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scheduler_proc.errors import JobDefinitionError, SchedulerError

if TYPE_CHECKING:
    from scheduler_proc.hooks import HookCall
    from scheduler_proc.jobs import Jobs, RunContext
    from scheduler_proc.master.lifespan import scheduler_lifespan
    from scheduler_proc.web.routes import metrics_router, scheduler_router

__all__ = [
    "HookCall",
    "JobDefinitionError",
    "Jobs",
    "RunContext",
    "SchedulerError",
    "metrics_router",
    "scheduler_lifespan",
    "scheduler_router",
]

#: The public names that load more than this module, and where each lives. Imported only
#: when asked: the supervisor and the gunicorn master must not load APScheduler or FastAPI.
_LAZY = {
    "HookCall": "scheduler_proc.hooks",
    "Jobs": "scheduler_proc.jobs",
    "RunContext": "scheduler_proc.jobs",
    "scheduler_lifespan": "scheduler_proc.master.lifespan",
    "scheduler_router": "scheduler_proc.web.routes",
    "metrics_router": "scheduler_proc.web.routes",
}


if not TYPE_CHECKING:  # a type checker sees the imports above, and a misspelt name is an error

    def __getattr__(name: str) -> Any:
        """``from scheduler_proc import Jobs, scheduler_router, ...`` imports their module on first use."""
        if name in _LAZY:
            import importlib

            return getattr(importlib.import_module(_LAZY[name]), name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
