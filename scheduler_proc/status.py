"""Status files: the scheduler process publishes its state; HTTP workers read it."""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

from scheduler_proc.securedir import trusted_file

#: A status file older than this (seconds) belongs to a scheduler that stopped or hangs.
STALE_AFTER = 5.0


def write_private(path: Path, data: bytes, durable: bool = False) -> None:
    """Replace ``path`` atomically with ``data``: a 0600 temporary file (symlinks refused), then rename.

    Readers never see a half-written file; the file object writes ``data`` whole.
    ``durable`` also syncs the file and its directory, so the new content survives a power loss.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(tmp, path)
    if durable:
        directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def write_status(path: Path, document: dict[str, Any]) -> None:
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
