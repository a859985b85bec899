"""The scripts' replies as named values, decoded in one place (see lua/<name>.lua).

A reply of another shape raises ValueError, TypeError or IndexError: the lease thread logs it
as a Redis answer it cannot read and tries again (see ClusterLeadership._safe_tick); the ledger
counts such a claim as not made (see RedisLedger.claim_many).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from scheduler_proc.coordination.claimletters import claim_letters
from scheduler_proc.coordination.records import ClaimResult


class Acquired(NamedTuple):
    """acquire.lua: the caller leads now."""

    fencing_token: int  # the new term's number
    lease_token: str  # 'term:nonce:node', the secret the lease key now holds
    redis_ms: int
    discontinuity: str  # '' or why claims made before may be gone ('?': INFO refused)


class HeldByOther(NamedTuple):
    """acquire.lua: another holds the lease (or a value that is no token, made to expire)."""

    holder: str
    remaining_ms: int
    redis_ms: int


class Renewal(NamedTuple):
    """renew.lua: whether the lease was still ours and is extended."""

    renewed: bool
    redis_ms: int
    discontinuity: str


class RedisTime(NamedTuple):
    """TIME: Redis's clock, in milliseconds since the epoch."""

    redis_ms: int


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
