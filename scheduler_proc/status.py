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

#: A status file not touched for this long (seconds) belongs to a scheduler that stopped or hangs.
STALE_AFTER = 5.0


def write_status(path: Path, document: StatusDocument) -> None:
    """Publish ``document`` with the time it was made (``updated_at``)."""
    write_private(path, json.dumps({**document, "updated_at": time.time()}).encode())


def touch_status(path: Path) -> None:
    """The heartbeat: the file's modification time says the runner's loop is alive.

    Rewriting the status of thousands of jobs costs a share of a second, so the runner does
    it less often than every second; between rewrites it touches the file, and readers judge
    liveness by that, not by how old the content is.
    """
    with contextlib.suppress(FileNotFoundError):
        os.utime(path, follow_symlinks=False)


def read_status(path: Path) -> dict[str, Any] | None:
    """The published document, or None if missing, unreadable or stale."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:  # the whole file: thousands of jobs make it megabytes
        st = os.fstat(handle.fileno())
        if not trusted_file(st):
            return None  # not a file our scheduler wrote: someone else's
        if time.time() - st.st_mtime > STALE_AFTER:
            return None  # no heartbeat: the runner stopped or hangs
        raw = handle.read()
    try:
        document = json.loads(raw)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def remove_status(path: Path) -> None:
    """Remove a status file if it exists."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
