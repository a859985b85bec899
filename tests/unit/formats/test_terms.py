"""terms.json: round trip, the previous code's file, refused shapes."""

from __future__ import annotations

import pytest

from scheduler_proc.errors import UnreadableData
from scheduler_proc.formats.terms import decode_terms, encode_terms
from scheduler_proc.formats.validate import Source

SOURCE = Source("/var/lib/app/terms.json", "starting from term 0")


def test_terms_round_trip_and_keep_the_previous_bytes() -> None:
    assert encode_terms(42) == b'{"highest_term": 42}'
    assert decode_terms(encode_terms(42), SOURCE) == 42


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "not JSON"),
        (b"[42]", "not a JSON object"),
        (b"{}", "has no highest_term (a whole number)"),
        (b'{"highest_term": "42"}', "holds '42' for highest_term, not a whole number"),
        (b'{"highest_term": true}', "holds 'True' for highest_term, not a whole number"),
        (b'{"highest_term": 4.5}', "holds '4.5' for highest_term"),
    ],
)
def test_a_file_of_another_shape_is_refused(raw: bytes, message: str) -> None:
    with pytest.raises(UnreadableData, match=r"; starting from term 0$") as caught:
        decode_terms(raw, SOURCE)
    assert message in str(caught.value)
