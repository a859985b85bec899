"""What the lease machinery needs of a coordination store: its calls, its notices, its name.

The state machine (leasekeeper.py) and the leadership (leadership.py) are the same for every
store; a backend (``redis/``, ``postgres/``) implements ``LeaseCalls`` (each call one atomic
script or statement that compares the lease token) and ``Notices`` (a hint that the lease was
given up), and names itself with a ``Store`` so that logs and problems say which store it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from scheduler_proc.coordination.term import MAX_TERM


class StoreSettings(Protocol):
    """The part of a store's settings the lease reads (``RedisSettings``, ``PostgresSettings``)."""

    @property
    def lease_ttl(self) -> float: ...

    @property
    def max_clock_offset(self) -> float: ...

    @property
    def socket_timeout(self) -> float: ...

    @property
    def target(self) -> str: ...


@dataclass(frozen=True)
class Store:
    """How a store is named in logs and problems, and the fixes the lease's warnings give."""

    name: str  # "Redis", "PostgreSQL"
    key: str  # "redis", "postgres": its name in the status file and its trouble's key in problems
    call: str  # what one lease call is on this store, e.g. "lease script"
    blind: str  # the warning when the store cannot tell whether it lost data ('?'), with the fix
    durable: str  # how to run the store so that it keeps claims across a restart or failover


class Acquired(NamedTuple):
    """acquire: the caller leads now."""

    fencing_token: int  # the new term's number
    lease_token: str  # 'term:nonce:node', the secret the store's lease now holds
    store_ms: int  # the store's clock when it answered, ms since the epoch
    discontinuity: str  # '' or why claims made before may be gone ('?': the store cannot tell)


class HeldByOther(NamedTuple):
    """acquire: another holds the lease (or a value that is no token, made to expire)."""

    holder: str
    remaining_ms: int
    store_ms: int


class Renewal(NamedTuple):
    """renew (the full one): whether the lease was still ours and is extended."""

    renewed: bool
    store_ms: int
    discontinuity: str


class LeaseCalls(Protocol):
    """One node's lease calls to one store; each compares the lease token, atomically on the store.

    Calls that carry the store's time measure this host's clock on the way (a ``ClockWatch``).
    They raise ``StoreUnavailable`` (no answer) or ``StoreConfigError`` (refused); a reply the
    kit cannot read raises ``UnreadableData``, ``ValueError``, ``TypeError``, ``IndexError`` or
    one of ``reply_errors``.
    """

    store: Store
    #: Where the lease lives on the store, named when it holds what is no lease token.
    lease_key: str
    #: The store client's errors for a call the store ran but answered with an error.
    reply_errors: tuple[type[Exception], ...]

    def acquire(self, node: str, ttl_ms: int, least_term: int, margin_ms: int) -> Acquired | HeldByOther:
        """Take the lease under a term of at least ``least_term``, or learn who holds it and for how long."""
        ...

    def renew(self, lease_token: str, ttl_ms: int, margin_ms: int) -> Renewal:
        """Extend the lease while ``lease_token`` holds it, checking continuity (the clock is measured too)."""
        ...

    def renew_quiet(self, lease_token: str, ttl_ms: int) -> bool:
        """Extend the lease while ``lease_token`` holds it, and nothing else; False: not ours."""
        ...

    def measure_clock(self) -> None:
        """Measure this host's clock against the store's, without touching the lease."""
        ...

    def release(self, lease_token: str) -> bool:
        """Give up the lease if ``lease_token`` still holds it (and tell the standbys); True if it did."""
        ...

    def holder(self, lease_token: str) -> tuple[int, str]:
        """(term, node) of a token read from the store; ``UnreadableData`` naming ``lease_key`` otherwise."""
        ...


class Notices(Protocol):
    """A hint that the lease was given up, for a sleeping standby; a lost one only delays it."""

    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds; True if a notice came."""
        ...

    def close(self) -> None:
        """Let go of what waiting holds (a subscription, a connection)."""
        ...


_TOKEN = re.compile(r"([0-9]{1,16}):[^:]+:(.+)", re.DOTALL)


def token_parts(raw: object) -> tuple[int, str] | None:
    """(term, node) of a lease token 'term:nonce:node' (the store's scripts accept the same shapes), else None."""
    match = _TOKEN.fullmatch(raw) if isinstance(raw, str) else None
    if match is None or int(match[1]) > MAX_TERM:
        return None
    return int(match[1]), match[2]
