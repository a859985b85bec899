"""Logging for the scheduler processes, in the same shape as gunicorn's own lines."""

from __future__ import annotations

import logging
import sys

FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"
DATEFMT = "%Y-%m-%d %H:%M:%S %z"


def configure_logging(level: str) -> None:
    """Send every record to stderr (journald under systemd, the terminal otherwise)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT, DATEFMT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # APScheduler's INFO lines ("Added job ...") repeat what the kit logs better.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, logging.getLevelName(level)))
