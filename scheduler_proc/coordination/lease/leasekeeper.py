"""The lease's state machine, one tick at a time: acquire, renew, notice expiry, step down.

A standby asks for the lease when the one it saw would run out (or at once on a handover
notice); a leader renews every ``renew_every`` seconds, measuring its clock and checking
the store's continuity on a full renewal at least every ``_FULL_RENEWAL_EVERY`` seconds, and
steps down as soon as it cannot prove the lease is still its own. The thread that ticks it,
and the lock around each tick, are ``ClusterLeadership``'s.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from scheduler_proc.coordination.interfaces import LeaseObserver
from scheduler_proc.coordination.lease.calls import HeldByOther, LeaseCalls, StoreSettings
from scheduler_proc.coordination.lease.clockwatch import ClockWatch
from scheduler_proc.coordination.lease.health import StoreHealth, StoreState
from scheduler_proc.coordination.lease.leasestate import LeaseState, floor_margin_ms
from scheduler_proc.coordination.local.nodestate import TermMemory
from scheduler_proc.coordination.unreadable import readable, report
from scheduler_proc.errors import StoreConfigError, StoreUnavailable, UnreadableData

log = logging.getLogger("scheduler.lease")

#: A standby tries this long after the lease it saw would have expired.
_AFTER_EXPIRY = 0.02

#: A leader measures its clock and checks the store's continuity on a renewal at least this often
#: (at most every lease TTL); the renewals between send three commands. Claims check
#: continuity themselves, so a quiet renewal never lets a claim through that a full one would stop.
_FULL_RENEWAL_EVERY = 10.0


class LeaseKeeper:
    """Acquires, renews and gives up one node's lease, and remembers who held it when last seen."""

    def __init__(
        self,
        settings: StoreSettings,
        node: str,
        calls: LeaseCalls,
        watches: tuple[ClockWatch, StoreHealth, LeaseObserver],
        memory: TermMemory,
        healthy: Callable[[], bool],
    ) -> None:
        self._settings = settings
        self._node = node
        self._calls = calls
        self._clock, self._health, self._metrics = watches
        self._memory = memory
        self._healthy = healthy  # False while the dispatch loop hangs: then the lease is not kept
        ttl = settings.lease_ttl
        self.state = LeaseState(ttl=ttl, margin=ttl / 4)
        self.renew_every = min(2.5, ttl / 4)
        self.poll_every = min(0.5, ttl / 4)  # while the store does not answer
        self.next_action = 0.0
        # A full renewal (clock measure, continuity) at least this often; the ones between are quiet.
        self._full_every = min(_FULL_RENEWAL_EVERY, ttl)
        self._full_at = float("-inf")
        self.leader_node: str | None = None
        self.leader_term: int | None = None
        self.lease_seen_ttl: float | None = None
        self.last_renewal_wall: float | None = None

    def tick(self, now: float) -> None:
        """Do what is due at ``now`` (a monotonic time): step down, notice expiry, acquire or renew."""
        if self._clock.still_proven_ahead(now) and self.state.lease_token is not None:
            self.give_up("stepped down: this host's clock runs ahead (a claim was refused as early)")
        if self.state.lease_token is not None and not self.state.valid(now):
            log.warning(
                "lease of term %s could not be renewed in time; pausing dispatch (running jobs go on)",
                self.state.fencing_token,
            )
            self.state.lost()
        if now < self.next_action:
            return
        if self.state.lease_token is None:  # the action may set a later time (a standby sleeps until the lease expires)
            self.next_action = now + (self.state.ttl / 2 if self._clock.check.off else self.poll_every)
            self._run(self._try_acquire, now)
        else:
            self.next_action = now + self.renew_every
            self._run(self._renew, now)

    def give_up(self, message: str) -> None:
        """Give the lease back at once (if held), so another node leads without waiting for it to expire."""
        lease_token = self.state.lease_token
        self.state.lost()
        if lease_token is None:
            return
        try:
            self._calls.release(lease_token)
            log.info("%s", message)
        except (StoreUnavailable, StoreConfigError) as exc:
            log.warning("could not release the lease (%s); it expires by itself within %gs", exc, self.state.ttl)

    def _run(self, action: Callable[[float], None], now: float) -> None:
        holding = self.state.lease_token is not None
        try:
            action(now)
        except StoreUnavailable as exc:
            self._failed(holding, "unreachable", f"{exc}; {self._meanwhile(now)}")
        except StoreConfigError as exc:
            self._failed(holding, "error", f"{exc}; {self._meanwhile(now)}")
        else:
            self._health.became("ok", f"{self._calls.store.name} at {self._settings.target} is reachable")

    def _failed(self, holding: bool, state: StoreState, message: str) -> None:
        if holding:
            self._metrics.renewal_failed()
        self._health.became(state, message)

    def _meanwhile(self, now: float) -> str:
        """What this node does while the store does not answer: a lease still valid by its own clock is kept."""
        if self.state.valid(now):
            left = self.state.valid_until - now
            term = self.state.fencing_token
            return f"still leading term {term} for up to {left:.1f}s by its own clock, retrying the renewal"
        return "waiting as standby and retrying"

    def _try_acquire(self, sent_at: float) -> None:
        if not self._healthy():
            return
        if self._clock.check.off:
            self._calls.measure_clock()  # only that: a leader whose clock is that far off would fire early or late
            return
        margin_ms = floor_margin_ms(self._settings)
        reply = self._calls.acquire(self._node, int(self.state.ttl * 1000), self._memory.highest + 1, margin_ms)
        if isinstance(reply, HeldByOther):
            remaining = reply.remaining_ms / 1000
            self._observe(reply.holder, max(0.0, remaining))
            # Quiet standby: try again when the lease would run out (or on a handover notice).
            self.next_action = sent_at + (remaining + _AFTER_EXPIRY if remaining > 0 else self.poll_every)
            return
        self._observe(reply.lease_token, self.state.ttl)
        self.state.granted(reply.fencing_token, reply.lease_token, sent_at)
        self._full_at = sent_at  # the acquire script measured the clock and checked continuity
        self._health.continuity(reply.discontinuity, margin_ms)
        if self._clock.check.off:
            self.give_up("lease given back at once: this host's clock is off")
            return
        self.last_renewal_wall = time.time()
        self.next_action = sent_at + self.renew_every
        log.info(
            "leading the cluster as node %s, term %d (lease TTL %gs)", self._node, reply.fencing_token, self.state.ttl
        )

    def _renew(self, sent_at: float) -> None:
        lease_token = self.state.lease_token
        if lease_token is None:
            return
        if not self._healthy():
            self.give_up("stopped renewing the lease: the dispatch loop hangs (see the watchdog's log)")
            self.next_action = 0.0
            return
        if not self._renewed(lease_token, sent_at):
            self._metrics.renewal_failed()
            log.warning(
                "lease of term %s is no longer ours (expired or %s lost it); pausing dispatch",
                self.state.fencing_token,
                self._calls.store.name,
            )
            self.state.lost()
            self.next_action = 0.0
            return
        if self._clock.check.off:
            self.give_up("stepped down: this host's clock is off")
            self.next_action = 0.0
            return
        self.state.renewed(sent_at)
        self.lease_seen_ttl = self.state.ttl
        self.last_renewal_wall = time.time()

    def _renewed(self, lease_token: str, sent_at: float) -> bool:
        """Renew; a full renewal also measures the clock and checks the store's continuity."""
        ttl_ms = int(self.state.ttl * 1000)
        if sent_at - self._full_at < self._full_every:
            return self._calls.renew_quiet(lease_token, ttl_ms)
        reply = self._calls.renew(lease_token, ttl_ms, floor_margin_ms(self._settings))
        if not reply.renewed:
            return False
        self._full_at = sent_at
        self._health.continuity(reply.discontinuity, floor_margin_ms(self._settings), leading=True)
        return True

    def _observe(self, lease_token: str, remaining_ttl: float) -> None:
        try:
            term, node = self._calls.holder(lease_token)
        except UnreadableData as exc:
            # The acquire script made it expire within one lease TTL; no node holds it.
            report(exc)
            self.leader_node, self.leader_term, self.lease_seen_ttl = None, None, remaining_ttl
            return
        readable(self._calls.lease_key)
        self._memory.saw(term)
        self.leader_node, self.leader_term, self.lease_seen_ttl = node, term, remaining_ttl
