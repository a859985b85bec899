"""Leadership in single-host mode: holding the host lock is leading (no lease, no fencing token)."""

from __future__ import annotations

from scheduler_proc.coordination.local.hostlock import HostLock
from scheduler_proc.coordination.term import Term
from scheduler_proc.formats.status import ClusterStatus


class HostLeadership:
    """Single-host mode: holding the host lock is leading."""

    def __init__(self, lock: HostLock) -> None:
        self._lock = lock

    @property
    def leading(self) -> bool:
        return self._lock.still_valid()

    def start(self) -> None:
        """Nothing to keep: the kernel keeps the flock while we live."""

    def tick(self) -> None:
        """Nothing to renew."""

    def current_term(self) -> Term | None:
        return Term(fencing_token=None, is_current=self._lock.still_valid) if self.leading else None

    def release(self) -> None:
        """The host lock itself is released by the runner."""

    def status(self) -> ClusterStatus:
        return {}
