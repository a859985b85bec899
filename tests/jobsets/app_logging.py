"""A jobs module that sets up its own logging at import, as an app's does (``logging.basicConfig``
to the file $APP_LOG), and two 1-second jobs that log a line with ``extra=``: ``logged`` in the
runner, ``logged_apart`` (a plain def with a timeout) in a process of its own."""

from __future__ import annotations

import logging
import os

from scheduler_proc import Jobs, RunContext

logging.basicConfig(filename=os.environ["APP_LOG"], level=logging.INFO, format="app-format %(name)s: %(message)s")
log = logging.getLogger("app_logging.jobs")
jobs = Jobs()


@jobs.every(seconds=1, id="logged")
def logged(ctx: RunContext) -> None:
    log.info("job line of run %s", ctx.run_id, extra={"order_id": 42})


@jobs.every(seconds=1, id="logged_apart", timeout=10)
def logged_apart(ctx: RunContext) -> None:
    log.info("job line apart of run %s", ctx.run_id, extra={"order_id": 43})
