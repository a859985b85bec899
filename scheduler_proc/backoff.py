"""How long to wait before starting again a process that ended: the supervisor's runner, the master's supervisor."""

from __future__ import annotations

STABLE_AFTER = 30.0  # a process that lived this long resets the backoff


class RestartBackoff:
    """``first`` seconds, doubling while restarts keep failing, up to ``maximum``.

    A process that lived ``STABLE_AFTER`` seconds counts as healthy: the next delay is
    ``first`` again.
    """

    def __init__(self, first: float, maximum: float) -> None:
        self.first = first
        self.maximum = maximum
        self.failures = 0

    def after_exit(self, lived: float) -> float:
        """The delay before restarting a process that ran ``lived`` seconds and ended."""
        self.failures = 0 if lived >= STABLE_AFTER else self.failures + 1
        return self.delay()

    def after_failed_start(self) -> float:
        """The delay before trying again after a start that did not succeed."""
        self.failures += 1
        return self.delay()

    def delay(self) -> float:
        return min(self.maximum, self.first * 2.0 ** max(0, self.failures - 1))
