"""Every interface a coordination backend implements, and what each implementation must guarantee.

A backend (``local/``: one host, SQLite and files; ``redis/``: a cluster sharing one Redis)
provides a ``Leadership``, a ``Ledger`` and a ``CommandBus``; ``backend.py`` picks one set by
the settings and hands it to the runner. The records they speak are in ``records.py``.

What every implementation must guarantee, whatever it stores in:

- **Once per fire.** ``Ledger.claim_many`` claims each (job id, scheduled time) for one run
  only, atomically with the check that the claiming ``Term`` is still current (fencing): a
  deposed leader's claim is FENCED, never half-written. A claim stays after its run ends
  (for ``SCHEDULER_CLAIM_RETENTION``), so a fire never runs twice; where claims may have been
  lost (a Redis that restarted without them), ``resume_floor`` says so and no fire at or
  before it is run.
- **One leader at a time.** ``Leadership.leading`` turns false *before* another node can
  lead: validity is judged on this node's monotonic clock, from when the request that proved
  it was *sent*, minus a margin.
- **No silent loss.** A fire the ledger could not answer for is UNAVAILABLE (not run;
  retried while leading); a ledger that cannot record at all raises ``LedgerError``, an
  unreachable server ``RedisUnavailable``. A stored value that is not the kit's is skipped
  or replaced and reported as ``UnreadableData`` naming the key and the fix.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from scheduler_proc.coordination.records import ClaimRequest, ClaimResult, Command, LiveRun, Run, RunRecord
from scheduler_proc.coordination.term import Term
from scheduler_proc.formats.acks import CommandAck
from scheduler_proc.formats.status import ClusterStatus


class Leadership(Protocol):
    """May this runner dispatch fires, and under which term."""

    @property
    def leading(self) -> bool:
        """True while this node may claim fires (the host lock, and in a cluster a lease still valid)."""
        ...

    def start(self) -> None:
        """Begin competing for leadership (idempotent)."""
        ...

    def tick(self) -> None:
        """Do what is due now: renew, try to acquire, step down."""
        ...

    def current_term(self) -> Term | None:
        """The term to claim fires under, or None when not leading."""
        ...

    def release(self) -> None:
        """Step down at once and hand the lease over (a stop, a hang, a lost host lock)."""
        ...

    def status(self) -> ClusterStatus:
        """What this node knows of the cluster, for the status file."""
        ...


class Ledger(Protocol):
    """What the scheduler needs from a ledger, local or Redis."""

    #: True when the ledger counts running instances across the cluster (max_instances).
    counts_instances: bool

    def claim_many(self, requests: list[ClaimRequest], term: Term, node: str) -> list[ClaimResult]:
        """Claim each fire for its run, atomically with the check that ``term`` is still current.

        One result per request, in order. A fire already claimed by another run is
        DUPLICATE; the same run asking again (a lost reply) gets CLAIMED again. A fire whose
        job runs ``max_instances`` times already (``running_here`` of this process, plus other
        nodes' live runs where the ledger counts them) is BUSY.
        """
        ...

    def claim(
        self, job_id: str, scheduled_at: datetime, term: Term, node: str, run_id: str, manual: bool = False
    ) -> ClaimResult:
        """Claim one fire (``manual``: a "run now", which does not move where catch-up resumes)."""
        ...

    def finish(self, run: Run) -> None:
        """Record a run's outcome (its claim stays: the fire never runs again)."""
        ...

    def finish_many(self, runs: list[Run]) -> None:
        """Record many outcomes in one write."""
        ...

    def last_claimed_all(self) -> dict[str, datetime]:
        """Each job's latest scheduled claim: where catch-up resumes."""
        ...

    def last_claimed(self, job_id: str) -> datetime | None:
        """One job's latest scheduled claim, or None if it never had one."""
        ...

    def last_runs(self) -> dict[str, RunRecord]:
        """Each job's latest claim (time, node, outcome so far), for the status page."""
        ...

    def history(self, job_id: str, limit: int) -> list[Run]:
        """A job's recent runs, newest first."""
        ...

    def paused(self) -> set[str]:
        """Ids of the jobs operators paused (kept across restarts and leaders)."""
        ...

    def set_paused(self, job_id: str, paused: bool) -> None:
        """Pause or resume one job for every node."""
        ...

    def leader_record(self) -> dict[str, str]:
        """What the last leader said of itself across hosts (empty: not kept, or unreadable)."""
        ...

    def set_leader_record(self, fields: dict[str, str]) -> None:
        """Say which app, node and tzdata lead this namespace now, for standbys to compare."""
        ...

    def now(self) -> datetime:
        """The clock all nodes share: Redis's TIME in cluster mode, this host's clock otherwise."""
        ...

    def resume_floor(self) -> tuple[datetime, str] | None:
        """No fire scheduled at or before this time may run (and why), or None: set when claims may be lost."""
        ...

    def settle(self, job_ids: list[str], at: datetime) -> None:
        """Record ``at`` as these jobs' last claim where theirs is older (catch-up resumes after it)."""
        ...

    def keep_running(self, runs: list[LiveRun]) -> None:
        """Keep the markers of these runs (they still run in this process), writing again those the
        ledger lost; a run whose outcome is recorded already keeps no marker."""
        ...

    def close(self) -> None:
        """Release the connection or database handle."""
        ...


class CommandBus(Protocol):
    """Carries operator commands (run now, pause, resume) from any process to the leader, and answers back.

    A command stays queued until the leader acks it, so a leader that dies mid-way leaves it for
    the next; a "run now" is claimed like any fire, so a command carried out twice still runs
    once. Commands older than ``records.COMMAND_TTL`` seconds are dropped, so an old "run now"
    never fires hours later.
    """

    def submit(self, command: Command) -> None:
        """Queue a command for the leader (any process)."""
        ...

    def wait_ack(self, command: Command, timeout: float) -> CommandAck | None:
        """The leader's answer, or None if none came within ``timeout`` seconds."""
        ...

    def due(self) -> bool:
        """On the leader: whether commands may be waiting (``receive`` is worth a call now)."""
        ...

    def rewind(self) -> None:
        """On the leader, as a term begins: read from the shared cursor at once (another leader may
        have moved it since this process last led)."""
        ...

    def receive(self) -> list[Command]:
        """On the leader: commands not yet carried out, oldest first (they stay queued until acked)."""
        ...

    def ack(self, command: Command, result: CommandAck) -> None:
        """On the leader: answer a command and take it off the queue (only once it is carried out)."""
        ...

    def close(self) -> None:
        """Release what the bus holds of its own (PostgreSQL: its listening connection)."""
        ...


class LeaseObserver(Protocol):
    """Where the lease reports what operators graph (the runner's metrics)."""

    def renewal_failed(self) -> None:
        """A renewal of a lease this node held got no answer or was refused."""
        ...

    def clock_offset(self, seconds: float) -> None:
        """This host's clock minus Redis's, measured on the last lease call."""
        ...
