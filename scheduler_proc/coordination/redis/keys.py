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
    def app(self) -> str:
        """Hash of the leader that last took a term: its app's SCHEDULER_JOBS (``jobs``), ``node`` and
        ``tzdata`` version, for standbys to compare (see scheduler_proc.runner.appcheck)."""
        return self.prefix + "app"

    @property
    def fence(self) -> str:
        """The term counter (INCR per leadership term)."""
        return self.prefix + "fence"

    @property
    def server(self) -> str:
        """Run id of the Redis server the namespace's data was last written under (a change: restart or failover)."""
        return self.prefix + "server"

    @property
    def floor(self) -> str:
        """Hash (at: ms, reason): no fire at or before ``at`` is claimed; set when Redis may have lost claims."""
        return self.prefix + "floor"

    @property
    def last(self) -> str:
        """Hash: job id -> microseconds of its last claimed fire."""
        return self.prefix + "last"

    @property
    def paused(self) -> str:
        """Hash: job id -> since when it is paused (survives restarts and failovers)."""
        return self.prefix + "paused"

    @property
    def commands(self) -> str:
        """Stream of operator commands (run, pause, resume) for the leader."""
        return self.prefix + "commands"

    @property
    def commands_cursor(self) -> str:
        """Id of the last command the leaders processed."""
        return self.prefix + "commands:cursor"

    def ack(self, command_id: str) -> str:
        """The leader's answer to one command (expires after a minute)."""
        return f"{self.prefix}ack:{command_id}"

    def running(self, job_id: str) -> str:
        """Sorted set of the job's runs in progress anywhere: run id -> expiry (Redis ms), kept alive while they run."""
        return f"{self.prefix}running:{job_id}"

    @property
    def dead(self) -> str:
        """Set of run-id prefixes of runner processes proven dead: their running markers no longer count."""
        return self.prefix + "dead"

    @property
    def commands_hint(self) -> str:
        """Pub/sub channel: a command was queued, the leader reads the stream now (it reads it seldom otherwise)."""
        return self.prefix + "commands:hint"

    @property
    def handover(self) -> str:
        """Pub/sub channel: a lease was given up, standbys may try at once."""
        return self.prefix + "handover"

    def history(self, job_id: str) -> str:
        """List of the job's last successful runs, newest first, as JSON."""
        return f"{self.prefix}history:{job_id}"

    def failures(self, job_id: str) -> str:
        """List of the job's last runs that did not succeed (error, abandoned, skipped), newest first, as JSON."""
        return f"{self.prefix}failures:{job_id}"

    @property
    def fire_prefix(self) -> str:
        """What every fire's key starts with (the claim script reads the job id and time after it)."""
        return self.prefix + "fire:"

    def fire(self, job_id: str, scheduled_us: int) -> str:
        """Hash of one claimed fire (node, term, run id, outcome ...), kept for the retention period."""
        return f"{self.fire_prefix}{job_id}:{scheduled_us}"
