"""A term (one holding of the lease or the host lock) and the run ids made under it."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

#: Per process; a counter makes each run id unique within it. A dead runner's claims are
#: recognised by this prefix (see takeover).
RUN_ID_PREFIX = secrets.token_hex(4)
_run_numbers = itertools.count()

#: The highest term (fencing token) a lease token may carry: Lua's numbers (doubles) count exactly up to here.
MAX_TERM = 2**53 - 1
#: The highest term a node remembers (terms.json) and asks for: far beyond any real counter
#: (terms start at Redis's time in milliseconds and grow by one per leadership), far below MAX_TERM.
PLAUSIBLE_TERM = 10**15


def new_run_id() -> str:
    """A unique 16-hex-digit run id (cheaper than a uuid4 per fire)."""
    return f"{RUN_ID_PREFIX}{next(_run_numbers) & 0xFFFFFFFF:08x}"


def _no_proof(scheduled_at: datetime) -> None:
    """Single-host mode: no claim is ever early (the ledger is this host's own)."""


@dataclass(frozen=True)
class Term:
    """The leadership this process runs fires under.

    ``fencing_token`` is the term's number (None in single-host mode); ``lease_token`` is the
    secret the Redis scripts compare to accept a claim.
    """

    fencing_token: int | None
    is_current: Callable[[], bool]
    lease_token: str | None = None
    #: Told when a claim under this term was refused as early (its fire's time, by this host's
    #: clock): proof that this host's clock runs ahead (see ClusterLeadership.clock_proven_ahead).
    clock_ahead: Callable[[datetime], None] = _no_proof
