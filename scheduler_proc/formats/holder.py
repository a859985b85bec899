"""The host-lock record: who holds the lock, written into the lock file for humans, status pages
and a successor on the same host.

One JSON object on the first line; the holder rewrites it in place and cuts what is left, so
whatever follows the first newline is the end of an older, longer record. Records written
before ``master_pid``, ``lease``, ``runs``, ``jobs`` or ``directory`` existed lack them.
"""

from __future__ import annotations

import json
from typing import NotRequired, TypedDict

from scheduler_proc.formats.validate import Fields, Source, parse_json


class HolderRecord(TypedDict):
    """Who holds the host lock."""

    pid: int
    node: str
    since: float  # wall time it took the lock
    master_pid: NotRequired[int]
    lease: NotRequired[str | None]  # the cluster lease token it held, so a successor can give it up
    runs: NotRequired[str | None]  # the run-id prefix of its process (its running markers)
    jobs: NotRequired[str | None]  # its app: SCHEDULER_JOBS ...
    directory: NotRequired[str | None]  # ... and the directory it runs in


def encode_holder(record: HolderRecord) -> bytes:
    """The lock file's content: the record and a newline."""
    return (json.dumps(record) + "\n").encode()


def decode_holder(raw: bytes, source: Source) -> HolderRecord:
    """The record on the first line of ``raw``."""
    fields = Fields(source, parse_json(source, raw.split(b"\n", 1)[0]))
    record = HolderRecord(pid=fields.integer("pid"), node=fields.text("node"), since=fields.number("since"))
    if fields.has("master_pid"):
        record["master_pid"] = fields.integer("master_pid")
    if fields.has("lease"):
        record["lease"] = fields.optional_text("lease")
    if fields.has("runs"):
        record["runs"] = fields.optional_text("runs")
    if fields.has("jobs"):
        record["jobs"] = fields.optional_text("jobs")
    if fields.has("directory"):
        record["directory"] = fields.optional_text("directory")
    return record
