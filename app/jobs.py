"""Scheduled jobs of the demo app. Add yours here; each fire runs once per host or cluster."""

from __future__ import annotations

import logging

from scheduler_proc import Jobs, RunContext

log = logging.getLogger("app.jobs")

jobs = Jobs()


@jobs.every(seconds=10, id="heartbeat")
def heartbeat(ctx: RunContext) -> None:
    """Shows that the scheduler is alive: one log line every 10 seconds."""
    log.info("heartbeat: fire of %s on node %s", ctx.scheduled_at.isoformat(), ctx.node)


@jobs.cron("*/5 * * * *")
async def cleanup() -> None:
    """An async job on a crontab: every 5 minutes."""
    log.info("cleanup: nothing to clean in the demo")
