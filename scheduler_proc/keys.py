"""Redis key names: all under one hash tag, so scripts work on Redis Cluster and apps can share a Redis."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    """Every key of one namespace; ``{namespace}`` is the hash tag that puts them in one slot."""

    namespace: str

    @property
    def prefix(self) -> str:
        return f"{{{self.namespace}}}:"

    @property
    def leader(self) -> str:
        """The lease: a string 'term:nonce:node' with a TTL."""
        return self.prefix + "leader"

    @property
    def fence(self) -> str:
        """The term counter (INCR per leadership term)."""
        return self.prefix + "fence"

    @property
    def last(self) -> str:
        """Hash: job id -> microseconds of its last claimed fire."""
        return self.prefix + "last"

    def fire(self, job_id: str, scheduled_us: int) -> str:
        """Hash of one claimed fire (node, term, run id, outcome ...), kept for the retention period."""
        return f"{self.prefix}fire:{job_id}:{scheduled_us}"
