"""Operator commands on the bus: file and stream entry round trips, previous writers' data, refused shapes."""

from __future__ import annotations

import json

import pytest

from scheduler_proc.errors import UnreadableData
from scheduler_proc.formats.commands import (
    CommandFields,
    decode_command_entry,
    decode_command_file,
    encode_command_file,
)
from scheduler_proc.formats.validate import Source

SOURCE = Source("command entry 1-0 of app:commands", "it is skipped")
COMMAND = CommandFields(id="0123456789abcdef", action="pause", job_id="report", issued_at=1796310000.123456)


def test_a_command_file_round_trips() -> None:
    assert decode_command_file(encode_command_file(COMMAND), SOURCE) == COMMAND


def test_a_command_file_the_previous_code_wrote_decodes() -> None:
    old = b'{"id": "0123456789abcdef", "action": "pause", "job_id": "report", "issued_at": 1796310000.123456}'
    assert encode_command_file(COMMAND) == old
    assert decode_command_file(old, SOURCE) == COMMAND


def test_a_stream_entry_as_redis_gives_it_back_decodes() -> None:
    """XADD keeps every value as text: the float's repr, as redis-py wrote the previous code's fields."""
    entry = {key: str(value) for key, value in COMMAND.items()}
    assert decode_command_entry(entry, SOURCE) == COMMAND


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{", "not JSON"),
        (b'{"id": "x", "action": "run", "job_id": "j"}', "has no issued_at (a finite number)"),
        (b'{"id": "x", "action": "go", "job_id": "j", "issued_at": 1}', "'go' for action, not one of run, pause"),
        (b'{"id": 5, "action": "run", "job_id": "j", "issued_at": 1}', "holds '5' for id, not a string"),
    ],
)  # fmt: skip
def test_a_command_file_of_another_shape_is_refused(raw: bytes, message: str) -> None:
    with pytest.raises(UnreadableData, match="it is skipped") as caught:
        decode_command_file(raw, SOURCE)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"issued_at": "soon"}, "holds 'soon' for issued_at, not a time in seconds"),
        ({"issued_at": "nan"}, "holds 'nan' for issued_at, not a time in seconds"),
        ({"job_id": None}, "holds 'None' for job_id, not a string"),
        ({"action": "RUN"}, "holds 'RUN' for action"),
    ],
)
def test_a_stream_entry_of_another_shape_is_refused(change: dict[str, object], message: str) -> None:
    entry = {**{key: str(value) for key, value in COMMAND.items()}, **change}
    with pytest.raises(UnreadableData) as caught:
        decode_command_entry(entry, SOURCE)  # type: ignore[arg-type]
    assert message in str(caught.value)
    missing = {key: str(value) for key, value in COMMAND.items() if key != "id"}
    with pytest.raises(UnreadableData, match="has no id "):
        decode_command_entry(missing, SOURCE)
    assert json.loads(encode_command_file(COMMAND))["action"] == "pause"
