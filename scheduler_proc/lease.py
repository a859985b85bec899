"""The cluster leader lease: a token in Redis with a TTL, fenced by a strictly increasing term.

``LeaseState`` is the pure part (when may we act as leader, on the monotonic clock);
``ClusterLeadership`` drives it against Redis from the runner's loop.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from scheduler_proc.errors import RedisConfigError, RedisUnavailable
from scheduler_proc.fire import Term
from scheduler_proc.keys import Keys
from scheduler_proc.metrics import Metrics
from scheduler_proc.redis_conn import LuaScript, call
from scheduler_proc.settings import RedisSettings

log = logging.getLogger("scheduler.lease")

# KEYS[1] leader, KEYS[2] fence. ARGV[1] nonce, ARGV[2] node, ARGV[3] ttl ms,
# ARGV[4] lowest term we accept (one above the highest we have seen).
# Returns {1, term, token, bumped} when we now lead, {0, holder token, pttl ms} when another does.
# bumped=1 means the counter was behind what we had seen: Redis lost its data.
ACQUIRE = """
local holder = redis.call('GET', KEYS[1])
if holder then return {0, holder, redis.call('PTTL', KEYS[1])} end
local term = redis.call('INCR', KEYS[2])
local bumped = 0
if term < tonumber(ARGV[4]) then
  term = tonumber(ARGV[4])
  redis.call('SET', KEYS[2], term)
  bumped = 1
end
local token = term .. ':' .. ARGV[1] .. ':' .. ARGV[2]
redis.call('SET', KEYS[1], token, 'PX', ARGV[3])
return {1, term, token, bumped}
"""

# KEYS[1] leader. ARGV[1] our token, ARGV[2] ttl ms. Returns 1 if renewed, 0 if the lease is not ours.
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# KEYS[1] leader. ARGV[1] our token. Returns 1 if we deleted our lease, 0 if it was not ours.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass
class LeaseState:
    """Whether this node may act as leader, judged only on its own monotonic clock.

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


def parse_token(token: str) -> tuple[int, str]:
    """(term, node) of a lease token 'term:nonce:node'."""
    term, _, rest = token.partition(":")
    return int(term), rest.partition(":")[2]


class ClusterLeadership:
    """Acquire, renew and release the lease; step down as soon as validity cannot be proven."""

    def __init__(
        self,
        settings: RedisSettings,
        client: redis.Redis,
        keys: Keys,
        node: str,
        clock: Callable[[], float] = time.monotonic,
        metrics: Metrics | None = None,
    ) -> None:
        self._metrics = metrics or Metrics(node)
        self._settings = settings
        self._client = client
        self._keys = keys
        self._node = node
        self._clock = clock
        ttl = settings.lease_ttl
        self.state = LeaseState(ttl=ttl, margin=ttl / 4)
        self._renew_every = min(2.5, ttl / 4)
        self._poll_every = min(0.5, ttl / 4)
        self._next_action = 0.0
        self._tick_every = min(0.25, ttl / 8)
        self._tick_lock = threading.Lock()
        self._stopped = threading.Event()
        self._keeper: threading.Thread | None = None
        self._highest_term = 0
        self._scripts = {
            name: LuaScript(client, source)
            for name, source in (("acquire", ACQUIRE), ("renew", RENEW), ("release", RELEASE))
        }
        self.redis_state = "unknown"
        self.leader_node: str | None = None
        self.leader_term: int | None = None
        self.lease_seen_ttl: float | None = None
        self.last_renewal_wall: float | None = None

    @property
    def leading(self) -> bool:
        return self.state.valid(self._clock())

    def current_term(self) -> Term | None:
        """The term to run fires under, or None when we cannot prove we lead."""
        if not self.leading or self.state.term is None or self.state.token is None:
            return None
        term = self.state.term
        return Term(
            token=term, is_current=lambda: self.leading and self.state.term == term, lease_token=self.state.token
        )

    def start(self) -> None:
        """Keep the lease from a thread of its own, so slow work elsewhere never delays a renewal."""
        if self._keeper is None or not self._keeper.is_alive():
            self._stopped = threading.Event()
            self._keeper = threading.Thread(target=self._keep, args=(self._stopped,), name="lease-keeper", daemon=True)
            self._keeper.start()

    def _keep(self, stopped: threading.Event) -> None:
        while not stopped.wait(self._tick_every):
            self.tick()

    def tick(self) -> None:
        """Acquire, renew or notice expiry, as due (the keeper thread calls it; tests call it directly)."""
        with self._tick_lock:
            self._tick(self._clock())

    def _tick(self, now: float) -> None:
        if self.state.token is not None and not self.state.valid(now):
            log.warning(
                "lease of term %s could not be renewed in time; pausing dispatch (running jobs go on)", self.state.term
            )
            self.state.lost()
        if now < self._next_action:
            return
        if self.state.token is None:
            self._run(self._try_acquire, now)
            self._next_action = now + self._poll_every
        else:
            self._run(self._renew, now)
            self._next_action = now + self._renew_every

    def release(self) -> None:
        """Stop renewing and give the lease up so another node leads at once (a clean stop)."""
        self._stopped.set()
        if self._keeper is not None and self._keeper is not threading.current_thread():
            self._keeper.join(5)
        with self._tick_lock:
            token = self.state.token
            self.state.lost()
        if token is None:
            return
        try:
            call(self._settings, lambda: self._scripts["release"](keys=[self._keys.leader], args=[token]))
            log.info("lease released; another node can lead now")
        except (RedisUnavailable, RedisConfigError) as exc:
            log.warning("could not release the lease (%s); it expires by itself within %gs", exc, self.state.ttl)

    def status(self) -> dict[str, Any]:
        return {
            "redis": self.redis_state,
            "leader_node": self.leader_node,
            "term": self.leader_term,
            "lease_age": None if self.lease_seen_ttl is None else round(self.state.ttl - self.lease_seen_ttl, 3),
            "last_renewal_at": self.last_renewal_wall,
            "lease_ttl": self.state.ttl,
        }

    def _run(self, action: Callable[[float], None], now: float) -> None:
        holding = self.state.token is not None
        try:
            action(now)
        except RedisUnavailable as exc:
            self._failed_while(holding)
            self._redis_is("unreachable", f"{exc}; waiting as standby and retrying")
        except RedisConfigError as exc:
            self._failed_while(holding)
            self._redis_is("error", f"{exc}; waiting as standby and retrying")
        else:
            self._redis_is("ok", f"Redis at {self._settings.target} is reachable")

    def _failed_while(self, holding: bool) -> None:
        if holding:
            self._metrics.renewal_failed()

    def _redis_is(self, state: str, message: str) -> None:
        if state == self.redis_state:
            return  # one line per change of state, not one per retry
        previous, self.redis_state = self.redis_state, state
        if state == "ok":
            if previous != "unknown":
                log.info("%s again", message)
        else:
            log.error("%s", message)

    def _try_acquire(self, sent_at: float) -> None:
        nonce = uuid.uuid4().hex[:12]
        ttl_ms = int(self.state.ttl * 1000)
        reply = call(
            self._settings,
            lambda: self._scripts["acquire"](
                keys=[self._keys.leader, self._keys.fence], args=[nonce, self._node, ttl_ms, self._highest_term + 1]
            ),
        )
        if int(reply[0]) == 1:
            term, token, bumped = int(reply[1]), str(reply[2]), int(reply[3])
            if bumped:
                log.warning(
                    "Redis term counter was behind term %d seen before: Redis lost its data "
                    "(restart without persistence, or a failover); fires claimed before cannot be "
                    "deduplicated",
                    self._highest_term,
                )
            self.state.granted(term, token, sent_at)
            self._observe(token, self.state.ttl)
            self.last_renewal_wall = time.time()
            log.info("leading the cluster as node %s, term %d (lease TTL %gs)", self._node, term, self.state.ttl)
        else:
            self._observe(str(reply[1]), max(0, int(reply[2])) / 1000)

    def _renew(self, sent_at: float) -> None:
        token = self.state.token
        if token is None:
            return
        renewed = call(
            self._settings,
            lambda: self._scripts["renew"](keys=[self._keys.leader], args=[token, int(self.state.ttl * 1000)]),
        )
        if int(renewed) == 1:
            self.state.renewed(sent_at)
            self.lease_seen_ttl = self.state.ttl
            self.last_renewal_wall = time.time()
        else:
            self._metrics.renewal_failed()
            log.warning(
                "lease of term %s is no longer ours (expired or Redis lost it); pausing dispatch", self.state.term
            )
            self.state.lost()
            self._next_action = 0.0

    def _observe(self, token: str, remaining_ttl: float) -> None:
        term, node = parse_token(token)
        self._highest_term = max(self._highest_term, term)
        self.leader_node, self.leader_term, self.lease_seen_ttl = node, term, remaining_ttl
