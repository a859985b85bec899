"""The scripts' replies as named values, decoded in one place (see lua/<name>.lua).

A reply of another shape raises ValueError, TypeError or IndexError: the lease thread logs it
as a Redis answer it cannot read and tries again (see ClusterLeadership._safe_tick); the ledger
counts such a claim as not made (see RedisLedger.claim_many).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from scheduler_proc.coordination.claimletters import claim_letters
from scheduler_proc.coordination.lease.calls import Acquired, HeldByOther, Renewal
from scheduler_proc.coordination.records import ClaimResult

__all__ = ["Acquired", "HeldByOther", "RedisTime", "Renewal", "acquire_reply", "claim_reply", "renew_reply"]


class RedisTime(NamedTuple):
    """TIME: Redis's clock, in milliseconds since the epoch."""

    store_ms: int


def acquire_reply(raw: Any) -> Acquired | HeldByOther:
    if int(raw[0]) == 1:
        return Acquired(int(raw[1]), _text(raw[2]), int(raw[3]), _text(raw[4]))
    return HeldByOther(_text(raw[1]), int(raw[2]), int(raw[3]))


def renew_reply(raw: Any) -> Renewal:
    return Renewal(int(raw[0]) == 1, int(raw[1]), _text(raw[2]))


def quiet_renew_reply(raw: Any) -> bool:
    """renew_quiet.lua: True if the lease was still ours and is extended."""
    return int(raw) == 1


def time_reply(raw: Any) -> RedisTime:
    """TIME's [seconds, microseconds]."""
    seconds, micros = raw
    return RedisTime(int(seconds) * 1000 + int(micros) // 1000)


def claim_reply(raw: Any, fires: int) -> list[ClaimResult]:
    """claim.lua: 'fenced' (the caller's lease is not the current one), else one letter per fire."""
    return claim_letters(_text(raw), fires)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
