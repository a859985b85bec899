"""Decoders for what the kit reads back from Redis: typed values, or UnreadableData naming the key and the fix.

Anyone who can write to Redis can put anything under the namespace's keys, so nothing
downstream indexes a raw reply. An unreadable value is never fatal: the reader skips it,
or the kit replaces it (see the lease scripts), and ``unreadable.report`` logs it once per
key and per value, not once per tick.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

import redis

from scheduler_proc.coordination.lease.calls import token_parts
from scheduler_proc.coordination.redis.conn import Client, LuaScript, call
from scheduler_proc.coordination.redis.scripts import source
from scheduler_proc.coordination.term import MAX_TERM
from scheduler_proc.coordination.unreadable import report
from scheduler_proc.errors import UnreadableData
from scheduler_proc.formats.validate import shown
from scheduler_proc.settings import RedisSettings

T = TypeVar("T")


_STREAM_ID = re.compile(r"[0-9]{1,20}(-[0-9]{1,20})?")
_COUNT = re.compile(r"[0-9]{1,20}(\.[0-9]*)?")


def unreadable(key: str, raw: object, expected: str, consequence: str = "") -> UnreadableData:
    """The error for ``key`` holding ``raw`` where ``expected`` belongs; the fix is to delete it."""
    also = f"; {consequence}" if consequence else ""
    return UnreadableData(key, f"Redis key {key} holds {shown(raw)}, not {expected}{also}; delete it (DEL '{key}')")


def lease_token(key: str, raw: object) -> tuple[int, str]:
    """(term, node) of a lease token 'term:nonce:node' (the lease scripts accept the same shapes)."""
    parts = token_parts(raw)
    if parts is None:
        raise unreadable(key, raw, f"a lease token (term:nonce:node, term at most {MAX_TERM})")
    return parts


def stream_id(key: str, raw: object) -> str | None:
    """A stream entry id ('ms-seq'), None when the key is absent."""
    if raw is None:
        return None
    if not isinstance(raw, str) or _STREAM_ID.fullmatch(raw) is None:
        raise unreadable(key, raw, "a stream id", "reading the last commands as if it were absent")
    return raw


def count(key: str, raw: object, field: str, expected: str) -> float:
    """A non-negative number stored as text in a hash field."""
    if not isinstance(raw, str) or _COUNT.fullmatch(raw) is None:
        raise UnreadableData(
            key, f"Redis key {key} holds {shown(raw)} for {field}, not {expected}; delete it (HDEL '{key}' '{field}')"
        )
    return float(raw)


_REPAIR = source("repair")


def repair_types(settings: RedisSettings, client: Client, expected: dict[str, str]) -> list[UnreadableData]:
    """Delete those of ``expected``'s keys that hold another type than theirs; an error for each, reported."""
    keys = list(expected)
    found = call(settings, lambda: LuaScript(client, _REPAIR)(keys=keys, args=[expected[k] for k in keys]))
    errors = []
    for key, kind in zip(keys, found, strict=True):
        if str(kind) not in ("none", expected[key]):
            error = UnreadableData(
                key, f"Redis key {key} is a {kind}, not a {expected[key]}; the kit deleted it (DEL '{key}')"
            )
            report(error)
            errors.append(error)
    return errors


def typed(settings: RedisSettings, client: Client, key: str, kind: str, action: Callable[[], T]) -> T:
    """Run ``action`` (one read of ``key``); a key of another type than ``kind`` raises UnreadableData."""
    try:
        return call(settings, action)
    except redis.ResponseError as exc:
        if not str(exc).startswith("WRONGTYPE"):
            raise
        actual = str(call(settings, lambda: client.type(key)))
        raise UnreadableData(key, f"Redis key {key} is a {actual}, not a {kind}; delete it (DEL '{key}')") from None
