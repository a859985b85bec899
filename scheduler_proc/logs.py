"""Logging for the scheduler processes: gunicorn's line shape by default, or one JSON object per line."""

from __future__ import annotations

import json
import logging
import sys
import time

from scheduler_proc.redact import redact

FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"
DATEFMT = "%Y-%m-%d %H:%M:%S %z"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, pid, message, and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": redact(record.getMessage()),
        }
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry)


class RedactingFormatter(logging.Formatter):
    """gunicorn's line shape, with passwords masked wherever they appear (a job's traceback too)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(level: str, fmt: str = "plain") -> None:
    """Send every record to stderr (journald under systemd, the terminal otherwise)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else RedactingFormatter(FORMAT, DATEFMT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # APScheduler's INFO lines ("Added job ...") repeat what the kit logs better.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, logging.getLevelName(level)))


def ensure_kit_handler(fmt: str = "plain") -> None:
    """In a process whose logging the app or its server set up (uvicorn's workers): make sure the
    kit's own lines get time and level.

    Adds a handler to the ``scheduler`` logger only when neither it nor the root logger has one
    (then Python's last-resort handler would print bare messages); never replaces the app's.
    """
    kit = logging.getLogger("scheduler")
    if kit.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else RedactingFormatter(FORMAT, DATEFMT))
    kit.addHandler(handler)
    if kit.level == logging.NOTSET:
        kit.setLevel(logging.INFO)
