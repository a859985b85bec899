"""The deploy tool's ownership record: round trip, the previous tool's file, refused shapes."""

from __future__ import annotations

import json

import pytest

from scheduler_proc.errors import UnreadableData
from scheduler_proc.formats.ownership import OwnershipRecord, decode_ownership, encode_ownership
from scheduler_proc.formats.validate import Source

SOURCE = Source("/etc/shop/.deployed-by-scheduler-proc", "refusing")
RECORD = OwnershipRecord(
    app="shop", user="shop", user_created=True, unit="shop.service", dirs=["/etc/shop", "/var/lib/shop"]
)


def test_a_record_round_trips_in_the_previous_tools_spelling() -> None:
    # deploy wrote json.dump(asdict(record), indent=1) and a newline, the dirs a tuple (a JSON list)
    assert encode_ownership(RECORD) == (json.dumps(RECORD, indent=1) + "\n").encode()
    assert decode_ownership(encode_ownership(RECORD), SOURCE) == RECORD


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"user_created": "yes"}, "holds 'yes' for user_created, not true or false"),
        ({"dirs": "/etc/shop"}, "holds '/etc/shop' for dirs, not a list of strings"),
        ({"app": None}, "holds 'None' for app, not a string"),
    ],
)
def test_a_record_of_another_shape_is_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(UnreadableData, match=r"; refusing$") as caught:
        decode_ownership(json.dumps({**RECORD, **change}).encode(), SOURCE)
    assert message in str(caught.value)
