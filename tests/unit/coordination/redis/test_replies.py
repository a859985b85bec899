"""The lease scripts' replies decoded into named values (scheduler_proc/coordination/redis/replies.py);
a reply of another shape raises, for the lease thread to log and retry."""

from __future__ import annotations

import pytest

from scheduler_proc.coordination.redis.replies import (
    Acquired,
    HeldByOther,
    Renewal,
    acquire_reply,
    quiet_renew_reply,
    renew_reply,
)


def test_replies_become_named_values_bytes_or_text() -> None:
    assert acquire_reply([1, 42, b"42:n:web-1", 1000, b""]) == Acquired(42, "42:n:web-1", 1000, "")
    assert acquire_reply([0, "41:n:web-2", 900, 1000]) == HeldByOther("41:n:web-2", 900, 1000)
    assert renew_reply([1, 1000, "restarted"]) == Renewal(True, 1000, "restarted")
    assert renew_reply([0, 1000, ""]).renewed is False
    assert quiet_renew_reply(1) and not quiet_renew_reply(0)


@pytest.mark.parametrize("raw", [None, [], ["x"], [1, "not a number", "t", 1, ""], "OK"])
def test_a_reply_of_another_shape_raises(raw: object) -> None:
    with pytest.raises((ValueError, TypeError, IndexError)):
        acquire_reply(raw)


def test_a_claim_reply_is_one_result_per_fire_or_fenced_for_all() -> None:
    from scheduler_proc.coordination.records import ClaimResult
    from scheduler_proc.coordination.redis.replies import claim_reply

    assert claim_reply(b"cdfeb", 5) == [
        ClaimResult.CLAIMED,
        ClaimResult.DUPLICATE,
        ClaimResult.FLOORED,
        ClaimResult.EARLY,
        ClaimResult.BUSY,
    ]
    assert claim_reply("fenced", 3) == [ClaimResult.FENCED] * 3
    for raw, fires in (("cc", 3), ("cx", 2), (b"", 1), (None, 1)):
        with pytest.raises(ValueError, match="claim script answered"):
            claim_reply(raw, fires)
