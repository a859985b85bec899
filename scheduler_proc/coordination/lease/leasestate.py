"""The pure part of the lease: when this node may act as leader, and how wide the floor's margin is.

Judged only on this node's monotonic clock, one that counts suspended time
(:func:`scheduler_proc.clock.elapsed`); no call to any store here.
"""

from __future__ import annotations

from dataclasses import dataclass

from scheduler_proc.coordination.lease.calls import StoreSettings


@dataclass
class LeaseState:
    """Whether this node may act as leader, judged only on its own monotonic clock (one that counts suspend).

    A renewal proves the lease lives ``ttl`` seconds from when the store received it,
    which is no earlier than when we *sent* it. So we trust it until
    ``sent + ttl - margin``: we stop before the store can hand the lease to someone else,
    as long as clock rates differ by less than margin/ttl.
    """

    ttl: float
    margin: float
    #: (fencing token, lease token) in one attribute, replaced whole: a reader on another thread
    #: never pairs one term's number with the next term's secret (a claim would go through under
    #: the new lease, recorded with the old term, and then be refused at its start).
    held: tuple[int, str] | None = None
    valid_until: float = 0.0

    @property
    def fencing_token(self) -> int | None:
        """The term's number, in every claim."""
        held = self.held
        return None if held is None else held[0]

    @property
    def lease_token(self) -> str | None:
        """The secret string the store's lease holds."""
        held = self.held
        return None if held is None else held[1]

    def granted(self, fencing_token: int, lease_token: str, sent_at: float) -> None:
        self.held = (fencing_token, lease_token)
        self.valid_until = sent_at + self.ttl - self.margin

    def renewed(self, sent_at: float) -> None:
        self.valid_until = max(self.valid_until, sent_at + self.ttl - self.margin)

    def lost(self) -> None:
        self.held, self.valid_until = None, 0.0

    def valid(self, now: float) -> bool:
        return self.held is not None and now < self.valid_until


def floor_margin_ms(settings: StoreSettings) -> int:
    """How far past the store's time the floor goes: twice the clock offset a leader may have (it is
    measured to within half a round trip, and a failover may put a server with another clock in charge)."""
    return int(2 * settings.max_clock_offset * 1000)
