"""Decoders of what the kit reads back from Redis (scheduler_proc/coordination/redis/decode.py): typed
values, or UnreadableData naming the key and the fix. The repair of wrongly typed keys runs in a real
Redis in tests/integration/test_unreadable_data.py."""

from __future__ import annotations

import pytest

from scheduler_proc.coordination.redis.decode import count, lease_token, stream_id
from scheduler_proc.coordination.term import MAX_TERM
from scheduler_proc.errors import UnreadableData


def test_good_values_are_typed() -> None:
    assert lease_token("{s}:leader", "42:abc:web-1") == (42, "web-1")
    assert lease_token("{s}:leader", "42:abc:node:with:colons") == (42, "node:with:colons")
    assert stream_id("{s}:cursor", None) is None and stream_id("{s}:cursor", "1700000000000-3") == "1700000000000-3"
    assert count("{s}:server", "12.5", "paused_at", "seconds") == 12.5


@pytest.mark.parametrize("raw", [None, b"42:abc:web-1", "42:web-1", "x:abc:web-1", f"{MAX_TERM + 1}:abc:web-1"])
def test_a_value_that_is_no_lease_token_names_the_key_and_the_fix(raw: object) -> None:
    with pytest.raises(UnreadableData) as error:
        lease_token("{s}:leader", raw)
    assert error.value.key == "{s}:leader" and str(error.value).endswith("delete it (DEL '{s}:leader')")


def test_other_unreadable_values_say_what_was_expected() -> None:
    with pytest.raises(UnreadableData, match="not a stream id; reading the last commands as if it were absent"):
        stream_id("{s}:cursor", "yesterday")
    with pytest.raises(UnreadableData, match=r"holds '-1' for paused_at, not seconds; delete it \(HDEL"):
        count("{s}:server", "-1", "paused_at", "seconds")
