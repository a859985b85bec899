"""Run history entries: one JSON object per run, as the ledgers keep them (a SQLite column, a
Redis list) and as ``/scheduler/jobs/<id>`` and ``scheduler-proc history`` show them.

Entries written before retries existed have no ``attempts`` (read as 1); a missing ``term``,
``finished_at``, ``error`` or ``duration`` reads as null, as it always did. Anyone who can write
to Redis can write a history list, so each entry is decoded; the reader leaves out those it
cannot read (an ``outcome`` or origin this version does not know, too: a later version's run is
left out and logged, never a crash).

A run's origin is ``origin`` here and in the HTTP API, but ``"trigger"`` in the stored JSON, as
0.1.0 wrote it: the codec maps the one to the other.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import NotRequired, TypedDict

from scheduler_proc.formats.validate import Fields, Source, parse_json
from scheduler_proc.formats.vocabulary import RUN_ORIGINS, RUN_OUTCOMES, RunOrigin, RunOutcome

#: The stored key of a run's origin. It stays 0.1.0's name: what 0.1.0 wrote must still decode, and
#: 0.1.0 must read what we write while a rolling upgrade runs both.
_STORED_ORIGIN = "trigger"


class RunEntry(TypedDict):
    """One run of a job."""

    job_id: str
    run_id: str
    scheduled_at: str  # ISO 8601 with offset: the fire's identity
    node: str
    term: int | None  # the fencing token it ran under (None: single host)
    origin: RunOrigin  # stored as "trigger" (see the module docstring)
    started_at: float
    finished_at: float | None
    outcome: RunOutcome
    error: str | None
    duration: float | None
    attempts: NotRequired[int]  # calls of the job for this fire: 1, plus its retries


def encode_run(entry: RunEntry, compact: bool = False) -> str:
    """The entry's JSON (``compact``: without spaces, as the SQLite ledger stores it), its origin under the
    stored key, in the place 0.1.0 put it."""
    stored = {(_STORED_ORIGIN if name == "origin" else name): value for name, value in entry.items()}
    return json.dumps(stored, separators=(",", ":") if compact else None)


def decode_run(raw: str | bytes, source: Source) -> RunEntry:
    """A run entry, its ``scheduled_at`` checked to be a time with an offset."""
    fields = Fields(source, parse_json(source, raw))
    entry = RunEntry(
        job_id=fields.text("job_id"),
        run_id=fields.text("run_id"),
        scheduled_at=_moment(fields, "scheduled_at"),
        node=fields.text("node"),
        term=fields.optional_integer("term") if fields.has("term") else None,
        origin=fields.choice(_STORED_ORIGIN, RUN_ORIGINS),
        started_at=fields.number("started_at"),
        finished_at=fields.optional_number("finished_at") if fields.has("finished_at") else None,
        outcome=fields.choice("outcome", RUN_OUTCOMES),
        error=fields.optional_text("error") if fields.has("error") else None,
        duration=fields.optional_number("duration") if fields.has("duration") else None,
    )
    if fields.has("attempts"):
        entry["attempts"] = fields.integer("attempts")
    return entry


def _moment(fields: Fields, name: str) -> str:
    text = fields.text(name)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise fields.source.error(name, text, "an ISO 8601 time with an offset")
    return text
