"""The cluster leader lease: a token in the store with a TTL, fenced by a strictly increasing term.

``ClusterLeadership`` is what the runner sees (``interfaces.Leadership``): it ticks a
``LeaseKeeper`` (leasekeeper.py, the state machine) from a thread of its own, and answers
whether this node leads from ``LeaseState`` (leasestate.py, pure). Every lease call also
checks that the store still holds the data the cluster acted on (health.py logs it) and
measures this host's clock against the store's (clockwatch.py). The calls themselves are the
backend's (``LeaseCalls``: ``redis/leasecalls.py``, ``postgres/leasecalls.py``), built by
``redis/lease.py`` and ``postgres/lease.py``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from scheduler_proc import clock
from scheduler_proc.coordination.interfaces import LeaseObserver
from scheduler_proc.coordination.lease.calls import LeaseCalls, Notices, Store, StoreSettings
from scheduler_proc.coordination.lease.clockwatch import ClockCheck, ClockWatch
from scheduler_proc.coordination.lease.health import StoreHealth
from scheduler_proc.coordination.lease.leasekeeper import LeaseKeeper
from scheduler_proc.coordination.lease.leasestate import LeaseState, floor_margin_ms
from scheduler_proc.coordination.local.nodestate import TermMemory
from scheduler_proc.coordination.term import Term
from scheduler_proc.errors import UnreadableData
from scheduler_proc.formats.status import ClusterStatus

log = logging.getLogger("scheduler.lease")

#: A standby sleeps at most this long between checks of its own state (it wakes earlier
#: for a handover notice or when the lease it saw would expire).
_LONGEST_NAP = 1.0

#: How much longer than the socket timeout a caller waits for a renewal already on its way.
_ANSWER_SLACK = 0.5


def ignore_lease(token: str | None) -> None:
    """The default lease-change callback: nobody is told."""


def always_healthy() -> bool:
    """The default health check: the dispatch loop never hangs."""
    return True


class _Unobserved:
    def renewal_failed(self) -> None:
        pass

    def clock_offset(self, seconds: float) -> None:
        pass


class ClusterLeadership:
    """Acquire, renew and release the lease; step down as soon as validity cannot be proven."""

    def __init__(
        self,
        settings: StoreSettings,
        store: Store,
        calls: Callable[[ClockWatch], LeaseCalls],
        notices: Notices,
        node: str,
        clock: Callable[[], float] = clock.elapsed,
        metrics: LeaseObserver | None = None,
        memory: TermMemory | None = None,
        wall: Callable[[], float] = clock.wall,
        on_lease: Callable[[str | None], None] = ignore_lease,
        healthy: Callable[[], bool] = always_healthy,
    ) -> None:
        observer = metrics or _Unobserved()
        self._settings = settings
        self._clock = clock
        self._on_lease = on_lease  # told the token we hold (None: none), e.g. to note it in the host lock
        self._store = store
        self._watch = ClockWatch(settings, store.name, observer, clock, wall)
        self._calls = calls(self._watch)  # they measure this node's clock on the way
        self._health = StoreHealth(settings, store)
        watches = (self._watch, self._health, observer)
        self._lease = LeaseKeeper(settings, node, self._calls, watches, memory or TermMemory(None), healthy)
        self._tick_every = min(0.25, settings.lease_ttl / 8)
        self._notices = notices
        #: What a reply the kit cannot read raises (see LeaseCalls).
        self._unreadable: tuple[type[Exception], ...] = (
            *self._calls.reply_errors,
            UnreadableData,
            ValueError,
            TypeError,
            IndexError,
        )
        self._tick_lock = threading.Lock()
        self._stopped = threading.Event()
        self._keeper: threading.Thread | None = None

    @property
    def state(self) -> LeaseState:
        return self._lease.state

    @property
    def clock_check(self) -> ClockCheck:
        return self._watch.check

    @property
    def store_state(self) -> str:
        """'ok', 'unreachable', 'error' or 'unknown' (no call answered yet)."""
        return self._health.state

    @property
    def leader_node(self) -> str | None:
        return self._lease.leader_node

    @property
    def leading(self) -> bool:
        return self.state.valid(self._clock()) and not self.clock_check.proven_ahead

    def current_term(self) -> Term | None:
        """The term to run fires under, or None when we cannot prove we lead."""
        if not self._settled_leading():
            return None
        held = self.state.held  # one read: the number and the secret of the same term
        if held is None:
            return None
        fencing_token, lease_token = held
        return Term(
            fencing_token=fencing_token,
            is_current=lambda: self._settled_leading() and self.state.fencing_token == fencing_token,
            lease_token=lease_token,
            clock_ahead=self.clock_proven_ahead,
        )

    def clock_proven_ahead(self, scheduled_at: datetime) -> None:
        """A claim was refused as early: this host's clock runs ahead, whatever a round trip said.

        The claim left at or after its fire's time by this host's clock and reached the store
        more than the claim margin (2 x SCHEDULER_MAX_CLOCK_OFFSET) before that time by
        the store's clock, so this clock is ahead by more than the margin. A round-trip measure
        can miss that on a slow or uneven link (it only flags what even its most favourable
        reading shows), and the node then led on while every claim was refused. It steps
        down at once and sits out a while before a measure may let it lead again.
        """
        self._watch.proven_ahead(scheduled_at, floor_margin_ms(self._settings))
        self._lease.next_action = 0.0  # the keeper gives the lease back on its next tick

    def _settled_leading(self) -> bool:
        """Leading, where a lease that ran out by our clock while its renewal is still on its way
        waits for that renewal's answer (at most a socket timeout) before it counts as lost.

        The renewal left inside validity, so a yes proves the lease was never lost: without
        the wait, a store's stall shorter than the lease had a claimed fire refused at its start
        (or a claim dropped, or the engine retired) while the same term then led on.
        """
        if self.leading:
            return True
        renewing = self.state.lease_token is not None and self._tick_lock.locked()
        if (
            renewing
            and threading.current_thread() is not self._keeper
            and self._tick_lock.acquire(timeout=self._settings.socket_timeout + _ANSWER_SLACK)
        ):
            self._tick_lock.release()
        return self.leading

    def start(self) -> None:
        """Keep the lease from a thread of its own, so slow work elsewhere never delays a renewal."""
        if self._keeper is None or not self._keeper.is_alive():
            self._stopped = threading.Event()
            self._keeper = threading.Thread(target=self._keep, args=(self._stopped,), name="lease-keeper", daemon=True)
            self._keeper.start()

    def _keep(self, stopped: threading.Event) -> None:
        try:
            while not stopped.is_set():
                self._safe_tick()
                if self.state.lease_token is not None or self.store_state != "ok":
                    stopped.wait(self._tick_every)
                elif self._notices.wait(max(0.0, min(_LONGEST_NAP, self._lease.next_action - self._clock()))):
                    self._lease.next_action = 0.0  # a lease was given up: try at once
        finally:
            self._notices.close()

    def _safe_tick(self) -> None:
        """A tick that nothing read from the store can end: the thread must live to keep the lease or give it up."""
        try:
            self.tick()
        except self._unreadable as exc:
            store = self._store
            self._health.became(
                "error", f"{store.name} answered the {store.call} with what it cannot read ({exc}); retrying"
            )
            with self._tick_lock:
                self._lease.next_action = self._clock() + self._lease.poll_every

    def tick(self) -> None:
        """Acquire, renew or notice expiry, as due (the keeper thread calls it; tests call it directly)."""
        with self._tick_lock:
            self._lease.tick(self._clock())
            self._on_lease(self.state.lease_token)

    def release(self) -> None:
        """Stop renewing and give the lease up so another node leads at once (a clean stop)."""
        self._stopped.set()
        if self._keeper is not None and self._keeper is not threading.current_thread():
            self._keeper.join(5)
        with self._tick_lock:
            self._lease.give_up("lease released; another node can lead now")
            self._on_lease(None)

    def status(self) -> ClusterStatus:
        offset, lease = self.clock_check.offset, self._lease
        status: ClusterStatus = {
            "store": self._store.key,
            "store_state": self.store_state,
            "leader_node": lease.leader_node,
            "term": lease.leader_term,
            "lease_age": None if lease.lease_seen_ttl is None else round(self.state.ttl - lease.lease_seen_ttl, 3),
            "last_renewal_at": lease.last_renewal_wall,
            "lease_ttl": self.state.ttl,
            "clock_offset": None if offset is None else round(offset, 4),
            "clock_ok": not self.clock_check.off,
        }
        if self._store.key == "redis":
            status["redis"] = self.store_state  # the state's name in 0.2, which older readers know
        return status
