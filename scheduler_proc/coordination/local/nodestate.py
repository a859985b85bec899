"""What a node remembers across restarts: the highest leadership term it has seen.

Fencing tokens must never repeat. Redis's term counter can go back (a restart without
persistence, an older snapshot); each node then asks for a term above the highest it has
seen, and keeps that number in its state directory so a restart of the node itself does
not forget it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from scheduler_proc.coordination.term import PLAUSIBLE_TERM
from scheduler_proc.errors import UnreadableData
from scheduler_proc.formats.terms import decode_terms, encode_terms
from scheduler_proc.formats.validate import Source
from scheduler_proc.securedir import write_private

log = logging.getLogger("scheduler.nodestate")


class TermMemory:
    """The highest term seen, in memory and (when ``path`` is given) in a private file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._refused = 0
        self.highest = self._load()

    def saw(self, term: int) -> None:
        """Remember ``term`` if it is the highest yet (written to disk before returning).

        A term beyond PLAUSIBLE_TERM is no real counter's (someone wrote the lease by hand):
        remembered, it would make every later term as large, so it is refused and logged once.
        """
        if term > PLAUSIBLE_TERM:
            if term != self._refused:
                self._refused = term
                log.warning(
                    "refusing to remember lease term %d: no term counter gets beyond %d (someone wrote the lease "
                    "by hand); this node's terms stay above %d",
                    term,
                    PLAUSIBLE_TERM,
                    self.highest,
                )
            return
        if term <= self.highest:
            return
        self.highest = term
        if self.path is not None:
            try:
                write_private(self.path, encode_terms(term), durable=True)
            except OSError as exc:
                log.warning("cannot remember term %d in %s (%s); a restart may reuse lower terms", term, self.path, exc)

    def _load(self) -> int:
        if self.path is None:
            return 0
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return 0
        except OSError as exc:
            log.warning("cannot read %s (%s); starting from term 0", self.path, exc.strerror)
            return 0
        with os.fdopen(fd, "rb") as handle:
            raw = handle.read(4096)
        try:
            value = decode_terms(raw, Source(str(self.path), "starting from term 0"))
        except UnreadableData as exc:
            log.warning("%s", exc)
            return 0
        if not 0 <= value <= PLAUSIBLE_TERM:
            log.warning(
                "%s holds term %s, not a term from 0 to %d; starting from term 0 (it is rewritten with the next "
                "term seen)",
                self.path,
                str(value)[:40],
                PLAUSIBLE_TERM,
            )
            return 0
        return value
