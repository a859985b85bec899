"""Status files: the scheduler process publishes its state; HTTP workers read it."""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

from scheduler_proc.contracts import StatusDocument
from scheduler_proc.securedir import trusted_file, write_private

#: A status file older than this (seconds) belongs to a scheduler that stopped or hangs.
STALE_AFTER = 5.0


def write_status(path: Path, document: StatusDocument) -> None:
    """Publish ``document`` plus a heartbeat time."""
    write_private(path, json.dumps({**document, "updated_at": time.time()}).encode())


def read_status(path: Path) -> dict[str, Any] | None:
    """The published document, or None if missing, unreadable or stale."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:  # the whole file: thousands of jobs make it megabytes
        if not trusted_file(handle.fileno(), path):
            return None  # not a file our scheduler wrote: someone else's
        raw = handle.read()
    try:
        document = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(document, dict) or time.time() - float(document.get("updated_at", 0)) > STALE_AFTER:
        return None
    return document


def remove_status(path: Path) -> None:
    """Remove a status file if it exists."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
