"""A term (one holding of the lease or the host lock) and the run ids made under it."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable
from dataclasses import dataclass

#: Per process; a counter makes each run id unique within it. A dead runner's claims are
#: recognised by this prefix (see takeover).
RUN_ID_PREFIX = secrets.token_hex(4)
_run_numbers = itertools.count()


def new_run_id() -> str:
    """A unique 16-hex-digit run id (cheaper than a uuid4 per fire)."""
    return f"{RUN_ID_PREFIX}{next(_run_numbers) & 0xFFFFFFFF:08x}"


@dataclass(frozen=True)
class Term:
    """The leadership this process runs fires under.

    ``token`` is the fencing token (None in single-host mode); ``lease_token`` is the
    secret the Redis scripts compare to accept a claim.
    """

    token: int | None
    is_current: Callable[[], bool]
    lease_token: str | None = None
