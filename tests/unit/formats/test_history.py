"""Run history entries: round trips in both ledgers' spellings, entries of previous versions (and their key
``trigger`` for the origin), refused shapes and words of later versions."""

from __future__ import annotations

import json

import pytest

from scheduler_proc.errors import UnreadableData
from scheduler_proc.formats.history import RunEntry, decode_run, encode_run
from scheduler_proc.formats.validate import Source

SOURCE = Source("history of job 'report'", "left out")
ENTRY = RunEntry(
    job_id="report",
    run_id="r1-abc",
    scheduled_at="2026-12-04T15:00:00+00:00",
    node="web-1",
    term=7,
    origin="schedule",
    started_at=1796310000.25,
    finished_at=1796310001.5,
    outcome="success",
    error=None,
    duration=1.25,
    attempts=1,
)


@pytest.mark.parametrize("compact", [False, True])
def test_an_entry_round_trips(compact: bool) -> None:
    assert decode_run(encode_run(ENTRY, compact), SOURCE) == ENTRY


#: ENTRY as 0.1.0 stored it, and reads it: the origin under the key "trigger", in the same place.
STORED = {("trigger" if key == "origin" else key): value for key, value in ENTRY.items()}


def test_the_ledgers_spellings_are_the_previous_ones() -> None:
    assert list(STORED)[5] == "trigger" and "origin" not in STORED
    assert encode_run(ENTRY) == json.dumps(STORED)  # the Redis ledger's
    assert encode_run(ENTRY, compact=True) == json.dumps(STORED, separators=(",", ":"))  # the SQLite ledger's


def test_an_entry_as_0_1_0_stored_it_decodes_with_its_origin() -> None:
    manual = {**STORED, "trigger": "manual"}
    assert decode_run(json.dumps(manual), SOURCE) == {**ENTRY, "origin": "manual"}


def test_an_entry_from_before_retries_and_with_nulls_decodes() -> None:
    old = {key: value for key, value in STORED.items() if key != "attempts"}
    old.update(term=None, finished_at=None, duration=None, error="ValueError: x", outcome="abandoned")
    decoded = {("origin" if key == "trigger" else key): value for key, value in old.items()}
    assert decode_run(json.dumps(old), SOURCE) == decoded
    sparse = {key: value for key, value in old.items() if key not in ("term", "finished_at", "error", "duration")}
    nulls = {"term": None, "finished_at": None, "error": None, "duration": None}
    assert decode_run(json.dumps(sparse), SOURCE) == {**decoded, **nulls}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"started_at": "soon"}, "holds 'soon' for started_at, not a finite number"),
        ({"started_at": None}, "holds 'None' for started_at, not a finite number"),
        ({"term": "7"}, "holds '7' for term, not a whole number or null"),
        ({"scheduled_at": "tomorrow"}, "holds 'tomorrow' for scheduled_at, not an ISO 8601 time with an offset"),
        ({"scheduled_at": "2026-12-04T15:00:00"}, "not an ISO 8601 time with an offset"),
        ({"attempts": True}, "holds 'True' for attempts, not a whole number"),
        ({"job_id": 5}, "holds '5' for job_id, not a string"),
        # A later version's words: the entry is left out (and logged once), the reader goes on.
        ({"outcome": "vanished"}, "holds 'vanished' for outcome, not one of running, success, error, timed_out"),
        ({"trigger": "webhook"}, "holds 'webhook' for trigger, not one of schedule, manual"),
        ({"trigger": None}, "holds 'None' for trigger, not one of schedule, manual"),
    ],
)
def test_an_entry_of_another_shape_is_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(UnreadableData, match=r"; left out$") as caught:
        decode_run(json.dumps({**STORED, **change}), SOURCE)
    assert message in str(caught.value)
    with pytest.raises(UnreadableData, match="not JSON"):
        decode_run("not json at all", SOURCE)
