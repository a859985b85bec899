"""What the lease thread tells operators about Redis: one line per change of state, not one per retry.

While Redis answers but refuses us (credentials, TLS, a read-only replica) the runner's health
is red (see :mod:`scheduler_proc.problems`); a Redis that lost claims (a restart without them,
a failover) is a warning each time a lease script notices it.
"""

from __future__ import annotations

import logging
from typing import Literal

from scheduler_proc import problems
from scheduler_proc.settings import RedisSettings

log = logging.getLogger("scheduler.lease")

RedisState = Literal["unknown", "ok", "unreachable", "error"]


class RedisHealth:
    """The last known state of Redis, as the status file shows it, and the log lines of its changes."""

    def __init__(self, settings: RedisSettings) -> None:
        self._settings = settings
        self.state: RedisState = "unknown"
        self._info_refused = False

    def became(self, state: RedisState, message: str) -> None:
        """Redis is in ``state`` now (``message`` says what happened); logged only if that is a change."""
        if state == self.state:
            return
        previous, self.state = self.state, state
        if state == "error":
            problems.report("redis", "Redis refuses the scheduler's commands", message)
            return
        problems.resolved("redis", f"Redis at {self._settings.target} takes the scheduler's commands again")
        if state == "ok":
            if previous != "unknown":
                log.info("%s again", message)
        else:
            log.error("%s", message)

    def continuity(self, reason: str, margin_ms: int, leading: bool = False) -> None:
        """Log what a lease script found about Redis's data: ``reason`` is '' (nothing lost), '?' (INFO
        refused: cannot tell; one warning per process), or why claims made before may be gone."""
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
