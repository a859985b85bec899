"""Logging for the scheduler processes: gunicorn's line shape by default, or one JSON object per line;
and the masking of every process's output (stdout, stderr, gunicorn's log handlers)."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any, TextIO

from scheduler_proc.redact import redact

FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"
DATEFMT = "%Y-%m-%d %H:%M:%S %z"


#: What every LogRecord carries; anything else on a record came from ``extra=``.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
#: The fields the kit's fire lines carry as ``key=value`` (job=... run_id=... outcome=...), as JSON keys.
_FIRE_FIELDS = re.compile(r"(?<![\w.])(job|scheduled_at|node|run_id|term|origin|outcome|duration|attempts)=(\S+)")
_FIELD_NAMES = {"job": "job_id"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, pid, message, the traceback if any, the
    fields of the kit's fire lines as keys (job_id, run_id, scheduled_at, node, term, origin,
    outcome, duration, attempts), and whatever ``extra=`` gave the record."""

    def format(self, record: logging.LogRecord) -> str:
        message = redact(record.getMessage())
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": message,
        }
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        if record.name.startswith("scheduler."):
            for key, raw in _FIRE_FIELDS.findall(message):
                entry.setdefault(_FIELD_NAMES.get(key, key), _field_value(key, raw.rstrip(":,")))
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                entry.setdefault(key, redact(value) if isinstance(value, str) else value)
        return json.dumps(entry, default=lambda value: redact(str(value)))


def _field_value(key: str, raw: str) -> Any:
    """A fire line's value as JSON would have it: numbers as numbers, ``None`` as null."""
    if raw == "None":
        return None
    number = raw.removesuffix("s") if key == "duration" else raw
    if key in ("term", "attempts", "duration") and re.fullmatch(r"[0-9]+(\.[0-9]+)?", number):
        return float(number) if "." in number else int(number)
    return raw


class RedactingFormatter(logging.Formatter):
    """gunicorn's line shape, with passwords masked wherever they appear (a job's traceback too)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _KitHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The kit's stderr handler: told apart from the app's, so the kit adds it once and removes nothing else."""


def _kit_handler(fmt: str) -> logging.Handler:
    handler = _KitHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else RedactingFormatter(FORMAT, DATEFMT))
    return handler


def configure_logging(level: str, fmt: str = "plain") -> None:
    """Send every record to stderr (journald under systemd, the terminal otherwise), beside the
    handlers the app set up: the kit's handler is added to the root logger, none is removed."""
    configure_kit_logging(level, fmt)
    extend_to_root()


def configure_kit_logging(level: str, fmt: str = "plain") -> None:
    """Before the jobs module is imported: the kit's lines go to stderr through a handler on the
    ``scheduler`` logger, and the root logger is left as the interpreter made it, so the app's own
    setup at import (``logging.basicConfig``, ``dictConfig``) applies as in the app's processes.
    :func:`extend_to_root` then moves the handler to the root logger."""
    kit = logging.getLogger("scheduler")
    if not any(isinstance(handler, _KitHandler) for handler in kit.handlers):
        kit.addHandler(_kit_handler(fmt))
    logging.getLogger().setLevel(level)
    # APScheduler's INFO lines ("Added job ...") repeat what the kit logs better.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, logging.getLevelName(level)))


def extend_to_root() -> None:
    """After the jobs module is imported: the kit's handler serves every logger (the jobs' too),
    added to the root logger beside the app's handlers, which stay and get the jobs' records.

    A ``dictConfig`` of the app disables the loggers that exist already (its default): the
    kit's own are enabled again, or its fire lines would vanish.
    """
    kit, root = logging.getLogger("scheduler"), logging.getLogger()
    for handler in [h for h in kit.handlers if isinstance(h, _KitHandler)]:
        kit.removeHandler(handler)
        if not any(isinstance(existing, _KitHandler) for existing in root.handlers):
            root.addHandler(handler)
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and (name == "scheduler" or name.startswith("scheduler.")):
            logger.disabled = False


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


#: The loggers of gunicorn and of uvicorn's workers (uvicorn's workers under gunicorn use gunicorn's handlers).
_SERVER_LOGGERS = ("gunicorn.error", "gunicorn.access", "uvicorn", "uvicorn.error", "uvicorn.access")


def gunicorn_log_config(log_format: str) -> dict[str, Any]:
    """gunicorn's ``logconfig_dict`` for ``SCHEDULER_LOG_FORMAT``: with ``json``, gunicorn's,
    uvicorn's and the root logger's records are one JSON object per line on stderr, as the
    scheduler processes write theirs; otherwise ``{}``, which leaves gunicorn's own setup as it is.

    No levels are named: gunicorn's ``loglevel`` still sets its error log's, the root keeps
    Python's WARNING. gunicorn re-reads it on HUP (it re-executes the config), so it is a value,
    not state. An invalid value counts as plain here: the kit's hooks refuse it with its message.
    """
    if log_format.strip().lower() != "json":
        return {}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"json": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["json"]},
        "loggers": {name: {"handlers": ["json"], "propagate": False} for name in _SERVER_LOGGERS},
    }


class RedactingStream(io.TextIOBase):
    """Stands in for ``sys.stdout`` / ``sys.stderr``: text goes on with every known secret masked.

    Whole lines are masked at once, so a secret written in pieces (``print(a, b)`` writes
    ``a``, `` ``, ``b``, ``\\n``) is still seen whole; a partial line waits for its end, for a
    :meth:`flush` or for 64 KiB. Bytes written to the file descriptor itself (a subprocess, or
    ``sys.stdout.buffer``) bypass it.
    """

    _MAX_PENDING = 65536

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.wrapped = stream
        self._pending = ""
        self._lock = threading.RLock()  # jobs print from many threads; a signal handler may print inside a write

    def write(self, text: str) -> int:
        """Mask and pass on every complete line; keep the rest until its end."""
        with self._lock:
            self._pending += text
            if "\n" in self._pending or len(self._pending) >= self._MAX_PENDING:
                whole, newline, rest = self._pending.rpartition("\n")
                done = whole + newline if newline else rest
                self._pending = rest if newline else ""
                self.wrapped.write(redact(done))
        return len(text)

    def flush(self) -> None:
        """Pass on a partial line too (masked), then flush the stream."""
        with self._lock:
            pending, self._pending = self._pending, ""
            if pending:
                self.wrapped.write(redact(pending))
            self.wrapped.flush()

    def fileno(self) -> int:
        """The wrapped stream's descriptor (subprocesses inherit it unmasked)."""
        return self.wrapped.fileno()

    def isatty(self) -> bool:
        """Whether the wrapped stream is a terminal."""
        return self.wrapped.isatty()

    def writable(self) -> bool:
        """Always: this is an output stream."""
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        """The wrapped stream's encoding."""
        return self.wrapped.encoding

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)


class RedactingFilter(logging.Filter):
    """On a handler the kit did not create (gunicorn's): the record's message and traceback masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the message by its masked text; always let the record through."""
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def mask_output() -> None:
    """Mask every known secret in what this process writes to stdout and stderr (print, tracebacks,
    log handlers that write there). Idempotent; forked children (gunicorn's workers) keep it."""
    if not isinstance(sys.stdout, RedactingStream) and sys.stdout is not None:
        sys.stdout = RedactingStream(sys.stdout)
    if not isinstance(sys.stderr, RedactingStream) and sys.stderr is not None:
        sys.stderr = RedactingStream(sys.stderr)


def mask_handlers(loggers: Iterable[logging.Logger]) -> None:
    """Put a :class:`RedactingFilter` on every handler of ``loggers`` (once each)."""
    for logger in loggers:
        for handler in logger.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())
