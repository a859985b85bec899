"""The host-lock record: round trips, records of previous versions (older and shorter), refused shapes."""

from __future__ import annotations

import pytest

from scheduler_proc.errors import UnreadableData
from scheduler_proc.formats.holder import HolderRecord, decode_holder, encode_holder
from scheduler_proc.formats.validate import Source

SOURCE = Source("host lock /run/app/app.lock", "the reader treats the lock as held by nobody it can name")
RECORD = HolderRecord(
    pid=4121,
    node="web-1",
    since=1796310000.5,
    master_pid=4100,
    lease="7:ab12:web-1",
    runs="r4121-",
    jobs="app.jobs:jobs",
    directory="/srv/app/releases/3",
)


def test_a_record_round_trips_as_one_line() -> None:
    raw = encode_holder(RECORD)
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1
    assert decode_holder(raw, SOURCE) == RECORD


def test_a_record_the_previous_code_wrote_decodes() -> None:
    old = (
        b'{"pid": 4121, "node": "web-1", "since": 1796310000.5, "master_pid": 4100, "lease": null, "runs": "r4121-",'
        b' "jobs": "app.jobs:jobs", "directory": "/srv/app"}\n'
    )
    assert decode_holder(old, SOURCE)["lease"] is None


def test_a_record_of_an_older_version_lacks_the_later_fields() -> None:
    assert decode_holder(b'{"pid": 12, "node": "n", "since": 1}\n', SOURCE) == HolderRecord(pid=12, node="n", since=1)


def test_only_the_first_line_counts_the_rest_is_an_older_longer_record() -> None:
    raw = encode_holder(HolderRecord(pid=1, node="n", since=2.0)) + b'de": "older", "since": 0}\n'
    assert decode_holder(raw, SOURCE) == HolderRecord(pid=1, node="n", since=2.0)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "holds '', not JSON"),
        (b'{"pid": 1, "node": "n"', "not JSON"),
        (b'{"pid": "1", "node": "n", "since": 1}', "holds '1' for pid, not a whole number"),
        (b'{"pid": 1, "since": 1}', "has no node (a string)"),
        (b'{"pid": 1, "node": "n", "since": 1, "lease": 7}', "holds '7' for lease, not a string or null"),
        (b'{"pid": 1, "node": "n", "since": 1, "master_pid": null}', "for master_pid, not a whole number"),
    ],
)
def test_a_record_of_another_shape_is_refused(raw: bytes, message: str) -> None:
    with pytest.raises(UnreadableData, match="the reader treats the lock as held by nobody") as caught:
        decode_holder(raw, SOURCE)
    assert message in str(caught.value)
