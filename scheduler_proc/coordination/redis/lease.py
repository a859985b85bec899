"""The cluster leader lease: a token in Redis with a TTL, fenced by a strictly increasing term.

``LeaseState`` is the pure part (when may we act as leader, on a monotonic clock that counts
suspended time, :func:`scheduler_proc.clock.elapsed`);
``ClusterLeadership`` drives it against Redis from a thread of its own. Every lease call
also checks that Redis still holds the data the cluster acted on (see ``lua/continuity.lua``)
and measures this host's clock against Redis's.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

import redis

from scheduler_proc import clock, problems
from scheduler_proc.coordination.interfaces import LeaseObserver
from scheduler_proc.coordination.local.nodestate import TermMemory
from scheduler_proc.coordination.redis import decode
from scheduler_proc.coordination.redis.conn import Client, LuaScript, call
from scheduler_proc.coordination.redis.hints import HandoverNotices
from scheduler_proc.coordination.redis.keys import Keys
from scheduler_proc.coordination.redis.replies import HeldByOther, acquire_reply, quiet_renew_reply, renew_reply
from scheduler_proc.coordination.redis.scripts import source
from scheduler_proc.coordination.term import Term
from scheduler_proc.coordination.unreadable import readable, report
from scheduler_proc.errors import RedisConfigError, RedisUnavailable, UnreadableData
from scheduler_proc.formats.status import ClusterStatus
from scheduler_proc.settings import RedisSettings

log = logging.getLogger("scheduler.lease")


class _WithRedisTime(Protocol):
    @property
    def redis_ms(self) -> int: ...


R = TypeVar("R", bound=_WithRedisTime)

#: A standby sleeps at most this long between checks of its own state (it wakes earlier
#: for a handover notice or when the lease it saw would expire).
_LONGEST_NAP = 1.0
#: A standby tries this long after the lease it saw would have expired.
_AFTER_EXPIRY = 0.02

#: A leader whose claim was refused as early steps down and sits out this long before its
#: clock's round-trip measure may let it lead again (NTP trouble is not fixed in seconds).
_PROOF_HOLD = 60.0

#: A leader measures its clock and checks Redis's continuity on a renewal at least this often
#: (at most every lease TTL); the renewals between send three commands. Claims check
#: continuity themselves, so a quiet renewal never lets a claim through that a full one would stop.
_FULL_RENEWAL_EVERY = 10.0

#: How much longer than the socket timeout a caller waits for a renewal already on its way.
_ANSWER_SLACK = 0.5

# The lease's scripts: what each takes and returns is in the header of lua/<name>.lua.
ACQUIRE = source("acquire")
RENEW = source("renew")
RENEW_QUIET = source("renew_quiet")
RELEASE = source("release")


@dataclass
class LeaseState:
    """Whether this node may act as leader, judged only on its own monotonic clock (one that counts suspend).

    A renewal proves the lease lives ``ttl`` seconds from when Redis received it,
    which is no earlier than when we *sent* it. So we trust it until
    ``sent + ttl - margin``: we stop before Redis can hand the lease to someone else,
    as long as clock rates differ by less than margin/ttl.
    """

    ttl: float
    margin: float
    term: int | None = None
    token: str | None = None
    valid_until: float = 0.0

    def granted(self, term: int, token: str, sent_at: float) -> None:
        self.term, self.token = term, token
        self.valid_until = sent_at + self.ttl - self.margin

    def renewed(self, sent_at: float) -> None:
        self.valid_until = max(self.valid_until, sent_at + self.ttl - self.margin)

    def lost(self) -> None:
        self.term, self.token, self.valid_until = None, None, 0.0

    def valid(self, now: float) -> bool:
        return self.token is not None and now < self.valid_until


@dataclass
class ClockCheck:
    """This host's wall clock against Redis's ``TIME``, from the lease calls' round trips.

    ``offset`` is how far this host's clock is ahead of Redis's (negative: behind). Redis
    read its clock somewhere between our send and our receive, so the offset is known to
    within half the round trip; the clock counts as off only when even the most
    favourable reading is beyond ``limit``.
    """

    limit: float
    offset: float | None = None
    error: float = 0.0
    proven_ahead: bool = False  # a claim was refused as early: off, whatever a measure says

    def measured(self, sent_wall: float, received_wall: float, redis_ms: int) -> None:
        self.offset = (sent_wall + received_wall) / 2 - redis_ms / 1000
        self.error = max(0.0, received_wall - sent_wall) / 2

    @property
    def off(self) -> bool:
        return self.proven_ahead or (self.offset is not None and abs(self.offset) - self.error > self.limit)


def _ignore(token: str | None) -> None:
    """Default lease-change callback."""


def _always() -> bool:
    return True


def floor_margin_ms(settings: RedisSettings) -> int:
    """How far past Redis's time the floor goes: twice the clock offset a leader may have (it is
    measured to within half a round trip, and a failover may put a Redis with another clock in charge)."""
    return int(2 * settings.max_clock_offset * 1000)


def release_lease_of(settings: RedisSettings, client: Client, keys: Keys, token: str) -> bool:
    """Give up the lease ``token`` names if it still holds; True if it did."""
    released = call(settings, lambda: LuaScript(client, RELEASE)(keys=[keys.leader, keys.handover], args=[token]))
    return int(released) == 1


BURY = source("bury")


def bury(settings: RedisSettings, client: Client, keys: Keys, token: str | None, run_prefix: str) -> bool:
    """For a runner proven dead: give up its lease (if it still holds) and stop counting its runs; True if released."""
    script = LuaScript(client, BURY)
    ttl_ms = int(settings.lease_ttl * 1000)

    def run() -> Any:
        return script(keys=[keys.leader, keys.handover, keys.dead], args=[token or "", run_prefix, ttl_ms])

    try:
        released = call(settings, run)
    except redis.ResponseError:  # '{ns}:dead' of another type: deleted (and logged), then once more
        if not decode.repair_types(settings, client, {keys.dead: "set"}):
            raise
        released = call(settings, run)
    return int(released) == 1


def parse_token(token: str, key: str = "{namespace}:leader") -> tuple[int, str]:
    """(term, node) of a lease token 'term:nonce:node'; UnreadableData naming ``key`` for anything else."""
    return decode.lease_token(key, token)


class _Unobserved:
    def renewal_failed(self) -> None:
        pass

    def clock_offset(self, seconds: float) -> None:
        pass


class ClusterLeadership:
    """Acquire, renew and release the lease; step down as soon as validity cannot be proven."""

    def __init__(
        self,
        settings: RedisSettings,
        client: Client,
        keys: Keys,
        node: str,
        clock: Callable[[], float] = clock.elapsed,
        metrics: LeaseObserver | None = None,
        memory: TermMemory | None = None,
        wall: Callable[[], float] = clock.wall,
        on_lease: Callable[[str | None], None] = _ignore,
        healthy: Callable[[], bool] = _always,
    ) -> None:
        self._metrics = metrics or _Unobserved()
        self._settings = settings
        self._client = client
        self._keys = keys
        self._node = node
        self._clock = clock
        self._wall = wall
        self._on_lease = on_lease  # told the token we hold (None: none), e.g. to note it in the host lock
        self._healthy = healthy  # False while the dispatch loop hangs: then the lease is not kept
        self._memory = memory or TermMemory(None)
        ttl = settings.lease_ttl
        self.state = LeaseState(ttl=ttl, margin=ttl / 4)
        self.clock_check = ClockCheck(settings.max_clock_offset)
        self._renew_every = min(2.5, ttl / 4)
        self._poll_every = min(0.5, ttl / 4)  # while Redis does not answer
        self._next_action = 0.0
        self._tick_every = min(0.25, ttl / 8)
        self._notices = HandoverNotices(client, keys.handover)
        self._tick_lock = threading.Lock()
        self._stopped = threading.Event()
        self._keeper: threading.Thread | None = None
        self._scripts = {
            name: LuaScript(client, source)
            for name, source in (("acquire", ACQUIRE), ("renew", RENEW), ("renew_quiet", RENEW_QUIET))
        }
        self.redis_state = "unknown"
        self._clock_was_off = False
        self._proven_until = 0.0
        # A full renewal (clock measure, continuity) at least this often; the ones between are quiet.
        self._full_every = min(_FULL_RENEWAL_EVERY, ttl)
        self._full_at = float("-inf")
        self._info_refused = False
        self.leader_node: str | None = None
        self.leader_term: int | None = None
        self.lease_seen_ttl: float | None = None
        self.last_renewal_wall: float | None = None

    @property
    def leading(self) -> bool:
        return self.state.valid(self._clock()) and not self.clock_check.proven_ahead

    def current_term(self) -> Term | None:
        """The term to run fires under, or None when we cannot prove we lead."""
        if not self._settled_leading() or self.state.term is None or self.state.token is None:
            return None
        term = self.state.term
        return Term(
            token=term,
            is_current=lambda: self._settled_leading() and self.state.term == term,
            lease_token=self.state.token,
            clock_ahead=self.clock_proven_ahead,
        )

    def clock_proven_ahead(self, scheduled_at: datetime) -> None:
        """A claim was refused as early: this host's clock runs ahead, whatever a round trip said.

        The claim left at or after its fire's time by this host's clock and reached Redis
        more than the claim margin (2 x SCHEDULER_MAX_CLOCK_OFFSET) before that time by
        Redis's clock, so this clock is ahead by more than the margin. A round-trip measure
        can miss that on a slow or uneven link (it only flags what even its most favourable
        reading shows), and the node then led on while every claim was refused. It steps
        down at once and sits out _PROOF_HOLD before a measure may let it lead again.
        """
        first = not self.clock_check.proven_ahead
        self._proven_until = self._clock() + _PROOF_HOLD
        self.clock_check.proven_ahead = True
        self._next_action = 0.0  # the keeper gives the lease back on its next tick
        if first:
            self._clock_was_off = True
            log.error(
                "a claim for the fire at %s was refused as early: it reached Redis more than %gs (2 x "
                "SCHEDULER_MAX_CLOCK_OFFSET) before that time by Redis's clock, though this host sent it at or "
                "after that time by its own, so this host's clock runs ahead by more than that; stepping down, "
                "not leading for %gs, then measured again (check NTP: `timedatectl` or `chronyc tracking`)",
                scheduled_at.isoformat(),
                floor_margin_ms(self._settings) / 1000,
                _PROOF_HOLD,
            )

    def _settled_leading(self) -> bool:
        """Leading, where a lease that ran out by our clock while its renewal is still on its way
        waits for that renewal's answer (at most a socket timeout) before it counts as lost.

        The renewal left inside validity, so a yes proves the lease was never lost: without
        the wait, a Redis stall shorter than the lease had a claimed fire refused at its start
        (or a claim dropped, or the engine retired) while the same term then led on.
        """
        if self.leading:
            return True
        renewing = self.state.token is not None and self._tick_lock.locked()
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
                if self.state.token is not None or self.redis_state != "ok":
                    stopped.wait(self._tick_every)
                elif self._notices.wait(max(0.0, min(_LONGEST_NAP, self._next_action - self._clock()))):
                    self._next_action = 0.0  # a lease was given up: try at once
        finally:
            self._notices.close()

    def _safe_tick(self) -> None:
        """A tick that nothing read from Redis can end: the thread must live for the lease to be kept or given up."""
        try:
            self.tick()
        except (redis.ResponseError, UnreadableData, ValueError, TypeError, IndexError) as exc:
            self._redis_is("error", f"Redis answered the lease script with what it cannot read ({exc}); retrying")
            with self._tick_lock:
                self._next_action = self._clock() + self._poll_every

    def tick(self) -> None:
        """Acquire, renew or notice expiry, as due (the keeper thread calls it; tests call it directly)."""
        with self._tick_lock:
            self._tick(self._clock())
            self._on_lease(self.state.token)

    def _tick(self, now: float) -> None:
        if self.clock_check.proven_ahead:
            if now >= self._proven_until:
                self.clock_check.proven_ahead = False  # the next measure decides again
            elif self.state.token is not None:
                self._give_up("stepped down: this host's clock runs ahead (a claim was refused as early)")
        if self.state.token is not None and not self.state.valid(now):
            log.warning(
                "lease of term %s could not be renewed in time; pausing dispatch (running jobs go on)", self.state.term
            )
            self.state.lost()
        if now < self._next_action:
            return
        if self.state.token is None:  # the action may set a later time (a standby sleeps until the lease expires)
            self._next_action = now + (self.state.ttl / 2 if self.clock_check.off else self._poll_every)
            self._run(self._try_acquire, now)
        else:
            self._next_action = now + self._renew_every
            self._run(self._renew, now)

    def release(self) -> None:
        """Stop renewing and give the lease up so another node leads at once (a clean stop)."""
        self._stopped.set()
        if self._keeper is not None and self._keeper is not threading.current_thread():
            self._keeper.join(5)
        with self._tick_lock:
            self._give_up("lease released; another node can lead now")
            self._on_lease(None)

    def _give_up(self, message: str) -> None:
        token = self.state.token
        self.state.lost()
        if token is None:
            return
        try:
            release_lease_of(self._settings, self._client, self._keys, token)
            log.info("%s", message)
        except (RedisUnavailable, RedisConfigError) as exc:
            log.warning("could not release the lease (%s); it expires by itself within %gs", exc, self.state.ttl)

    def status(self) -> ClusterStatus:
        offset = self.clock_check.offset
        return {
            "redis": self.redis_state,
            "leader_node": self.leader_node,
            "term": self.leader_term,
            "lease_age": None if self.lease_seen_ttl is None else round(self.state.ttl - self.lease_seen_ttl, 3),
            "last_renewal_at": self.last_renewal_wall,
            "lease_ttl": self.state.ttl,
            "clock_offset": None if offset is None else round(offset, 4),
            "clock_ok": not self.clock_check.off,
        }

    def _run(self, action: Callable[[float], None], now: float) -> None:
        holding = self.state.token is not None
        try:
            action(now)
        except RedisUnavailable as exc:
            self._failed_while(holding)
            self._redis_is("unreachable", f"{exc}; {self._meanwhile(now)}")
        except RedisConfigError as exc:
            self._failed_while(holding)
            self._redis_is("error", f"{exc}; {self._meanwhile(now)}")
        else:
            self._redis_is("ok", f"Redis at {self._settings.target} is reachable")

    def _meanwhile(self, now: float) -> str:
        """What this node does while Redis does not answer: a lease still valid by its own clock is kept."""
        if self.state.valid(now):
            return (
                f"still leading term {self.state.term} for up to {self.state.valid_until - now:.1f}s by its own "
                "clock, retrying the renewal"
            )
        return "waiting as standby and retrying"

    def _failed_while(self, holding: bool) -> None:
        if holding:
            self._metrics.renewal_failed()

    def _redis_is(self, state: str, message: str) -> None:
        if state == self.redis_state:
            return  # one line per change of state, not one per retry
        previous, self.redis_state = self.redis_state, state
        if state == "error":  # Redis answers but refuses us (credentials, TLS, a read-only replica): health is red
            problems.report("redis", "Redis refuses the scheduler's commands", message)
            return
        problems.resolved("redis", f"Redis at {self._settings.target} takes the scheduler's commands again")
        if state == "ok":
            if previous != "unknown":
                log.info("%s again", message)
        else:
            log.error("%s", message)

    def _timed(self, script: str, keys: list[str], args: list[Any], decode_reply: Callable[[Any], R]) -> R:
        """Run a lease script and check this host's clock against the Redis time in its reply."""
        sent = self._wall()
        reply = decode_reply(call(self._settings, lambda: self._scripts[script](keys=keys, args=args)))
        self._clock_measured(sent, reply.redis_ms)
        return reply

    def _clock_measured(self, sent_wall: float, redis_ms: int) -> None:
        check = self.clock_check
        check.measured(sent_wall, self._wall(), redis_ms)
        self._metrics.clock_offset(check.offset or 0.0)
        if check.off == self._clock_was_off:
            return  # one line per change of state
        self._clock_was_off = check.off
        if check.off:
            log.error(
                "this host's clock is %+.3fs off Redis's (+-%.3fs), more than SCHEDULER_MAX_CLOCK_OFFSET=%gs: "
                "not leading until it is fixed (check NTP: `timedatectl` or `chronyc tracking`)",
                check.offset or 0.0,
                check.error,
                check.limit,
            )
        else:
            log.info("this host's clock is within SCHEDULER_MAX_CLOCK_OFFSET of Redis's again")

    def _try_acquire(self, sent_at: float) -> None:
        if not self._healthy():
            return
        if self.clock_check.off:
            # Only measure again: a leader whose clock is that far off would fire early or late.
            sent = self._wall()
            seconds, micros = call(self._settings, lambda: self._client.time())
            self._clock_measured(sent, int(seconds) * 1000 + int(micros) // 1000)
            return
        margin_ms = floor_margin_ms(self._settings)
        args = [uuid.uuid4().hex[:12], self._node, int(self.state.ttl * 1000), self._memory.highest + 1, margin_ms]
        reply = self._timed("acquire", self._acquire_keys(), args, acquire_reply)
        if isinstance(reply, HeldByOther):
            remaining = reply.remaining_ms / 1000
            self._observe(reply.holder, max(0.0, remaining))
            # Quiet standby: try again when the lease would run out (or on a handover notice).
            self._next_action = sent_at + (remaining + _AFTER_EXPIRY if remaining > 0 else self._poll_every)
            return
        term, token = reply.term, reply.token
        self._observe(token, self.state.ttl)
        self.state.granted(term, token, sent_at)
        self._full_at = sent_at  # the acquire script measured the clock and checked continuity
        self._continuity(reply.discontinuity, margin_ms)
        if self.clock_check.off:
            self._give_up("lease given back at once: this host's clock is off")
            return
        self.last_renewal_wall = time.time()
        self._next_action = sent_at + self._renew_every
        log.info("leading the cluster as node %s, term %d (lease TTL %gs)", self._node, term, self.state.ttl)

    def _acquire_keys(self) -> list[str]:
        return [self._keys.leader, self._keys.fence, self._keys.server, self._keys.floor]

    def _renew(self, sent_at: float) -> None:
        token = self.state.token
        if token is None:
            return
        if not self._healthy():
            self._give_up("stopped renewing the lease: the dispatch loop hangs (see the watchdog's log)")
            self._next_action = 0.0
            return
        if not self._renewed(token, sent_at):
            self._metrics.renewal_failed()
            log.warning(
                "lease of term %s is no longer ours (expired or Redis lost it); pausing dispatch", self.state.term
            )
            self.state.lost()
            self._next_action = 0.0
            return
        if self.clock_check.off:
            self._give_up("stepped down: this host's clock is off")
            self._next_action = 0.0
            return
        self.state.renewed(sent_at)
        self.lease_seen_ttl = self.state.ttl
        self.last_renewal_wall = time.time()

    def _renewed(self, token: str, sent_at: float) -> bool:
        """Renew; a full renewal also measures the clock and checks Redis's continuity."""
        if sent_at - self._full_at < self._full_every:
            quiet = call(
                self._settings,
                lambda: self._scripts["renew_quiet"](
                    keys=[self._keys.leader], args=[token, int(self.state.ttl * 1000)]
                ),
            )
            return quiet_renew_reply(quiet)
        reply = self._timed(
            "renew",
            [self._keys.leader, self._keys.server, self._keys.floor],
            [token, int(self.state.ttl * 1000), floor_margin_ms(self._settings)],
            renew_reply,
        )
        if not reply.renewed:
            return False
        self._full_at = sent_at
        self._continuity(reply.discontinuity, floor_margin_ms(self._settings), leading=True)
        return True

    def _continuity(self, reason: str, margin_ms: int, leading: bool = False) -> None:
        """Log what the lease script found about Redis's data (one warning per event)."""
        if reason == "?":
            if not self._info_refused:
                self._info_refused = True
                log.warning(
                    "Redis does not let this user run INFO in scripts: a restart or failover of Redis that loses "
                    "claims cannot be noticed; grant it (ACL SETUSER <user> +info)"
                )
        elif reason:
            log.warning(
                "%s: claims made before may be gone from Redis and cannot be proven unrun, so no fire scheduled "
                "up to %gs from now runs again%s; run Redis with appendonly yes and appendfsync always",
                reason,
                margin_ms / 1000,
                " (this node leads on and runs none of its fires twice)" if leading else "",
            )

    def _observe(self, token: str, remaining_ttl: float) -> None:
        try:
            term, node = parse_token(token, self._keys.leader)
        except UnreadableData as exc:
            # The acquire script made it expire within one lease TTL; no node holds it.
            report(exc)
            self.leader_node, self.leader_term, self.lease_seen_ttl = None, None, remaining_ttl
            return
        readable(self._keys.leader)
        self._memory.saw(term)
        self.leader_node, self.leader_term, self.lease_seen_ttl = node, term, remaining_ttl
