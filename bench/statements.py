"""What the kit's connections sent PostgreSQL over a window of time, read from the server's log (log_statement=all).

A statement is what the server logs as one: each simple query (``statement: BEGIN``) and each
execution of a parameterized or prepared one (``execute <unnamed>: SELECT ...``), BEGIN and
COMMIT included; not the notifications a LISTEN receives. Each connection of the kit names its
node and purpose in its application_name (``scheduler-proc/<node>/<purpose>``), and the server's
log_line_prefix (``%a|``) puts that name before each line.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench_stores import KIT_APPLICATION

_LOGGED = re.compile(r"^(?P<app>[^|\n]*)\|LOG:  (?:statement|execute [^:]*): (?P<text>.*)$", re.MULTILINE)
_TRANSACTION_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|START TRANSACTION|END)\b", re.IGNORECASE)


@dataclass
class Statements:
    """Statements counted per node and per (node, purpose); ``control``: of those, BEGIN/COMMIT/ROLLBACK."""

    by_node: Counter[str] = field(default_factory=Counter)
    control_by_node: Counter[str] = field(default_factory=Counter)
    by_purpose: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: Statements of connections whose application_name is not the kit's (ours left out by pg_support).
    others: Counter[str] = field(default_factory=Counter)


def count(text: str) -> Statements:
    """The statements in a stretch of the server's log."""
    found = Statements()
    for matched in _LOGGED.finditer(text):
        app = matched["app"]
        parts = app.split("/")
        if parts[0] != KIT_APPLICATION or len(parts) < 2:
            found.others[app] += 1
            continue
        node, purpose = parts[1], "/".join(parts[2:])
        found.by_node[node] += 1
        found.by_purpose[node, purpose] += 1
        if _TRANSACTION_CONTROL.match(matched["text"]):
            found.control_by_node[node] += 1
    return found


class LogWindow:
    """The part of a server log written between ``open`` (construction) and ``close``."""

    def __init__(self, log: Path) -> None:
        self._log = log
        self._start = log.stat().st_size

    def close(self) -> Statements:
        with open(self._log, "rb") as log:
            log.seek(self._start)
            data = log.read()
        return count(data[: data.rfind(b"\n") + 1].decode(errors="replace"))
