"""Status files: the scheduler process publishes its state; HTTP workers read it."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from scheduler_proc.errors import UnreadableData
from scheduler_proc.formats.status import StatusDocument, decode_status, encode_status, status_source
from scheduler_proc.securedir import read_trusted, write_private

#: A status file not touched for this long (seconds) belongs to a scheduler that stopped or hangs.
STALE_AFTER = 5.0


def write_status(path: Path, document: StatusDocument) -> None:
    """Publish ``document`` with the time it was made (``updated_at``)."""
    write_private(path, encode_status(document, time.time()))


def touch_status(path: Path) -> None:
    """The heartbeat: the file's modification time says the runner's loop is alive.

    Rewriting the status of thousands of jobs costs a share of a second, so the runner does
    it less often than every second; between rewrites it touches the file, and readers judge
    liveness by that, not by how old the content is.
    """
    with contextlib.suppress(FileNotFoundError):
        os.utime(path, follow_symlinks=False)


def read_status(path: Path) -> StatusDocument | None:
    """The published document, or None if missing, unreadable, not our scheduler's or stale.

    A document the decoder rejects (a half-written or foreign file) counts as none, as a missing
    one does: the web side answers "stopped" until the runner writes it again.
    """
    found = read_trusted(path)
    if found is None:
        return None
    st, raw = found
    if time.time() - st.st_mtime > STALE_AFTER:
        return None  # no heartbeat: the runner stopped or hangs
    try:
        return decode_status(raw, status_source(path))
    except UnreadableData:
        return None


def remove_status(path: Path) -> None:
    """Remove a status file if it exists."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
