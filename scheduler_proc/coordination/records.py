"""The plain records the coordination interfaces speak: runs, claims, history limits, commands.

Backend-neutral: every backend (``local/``, ``redis/``) reads and writes these, and nothing
here imports either of them.
"""

from __future__ import annotations

import enum
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from scheduler_proc.coordination.unreadable import readable, report
from scheduler_proc.errors import UnreadableData
from scheduler_proc.formats.acks import CommandAck, decode_ack
from scheduler_proc.formats.commands import CommandFields, decode_command_entry
from scheduler_proc.formats.history import RunEntry, decode_run
from scheduler_proc.formats.validate import Source
from scheduler_proc.formats.vocabulary import COMMAND_ACTIONS, CommandAction, LastOutcome, RunOrigin, RunOutcome


class ClaimResult(enum.Enum):
    """What the ledger said about a fire."""

    CLAIMED = "claimed"  # this node runs it
    DUPLICATE = "duplicate"  # someone already claimed it: never run it again
    FENCED = "fenced"  # our leadership term is no longer current
    UNREPLICATED = "unreplicated"  # claimed, but too few replicas acknowledged it: not run
    UNAVAILABLE = "unavailable"  # the ledger could not be reached: not run; retried while we lead
    FLOORED = "floored"  # at or before the cluster's floor (Redis may have lost claims): cannot be proven unrun
    BUSY = "max_instances"  # the job's max_instances are running in the cluster: it may wait
    EARLY = "early"  # later than Redis's time allows: this host's clock runs ahead; left for whoever leads then


@dataclass(frozen=True)
class Run:
    """One run of a job, as the history keeps it."""

    job_id: str
    run_id: str
    scheduled_at: datetime
    node: str
    term: int | None
    origin: RunOrigin  # its schedule, or an operator's run now
    started_at: float
    finished_at: float | None
    outcome: RunOutcome
    error: str | None
    attempts: int = 1  # calls of the job for this fire: 1, plus its retries

    @property
    def duration(self) -> float | None:
        return None if self.finished_at is None else round(self.finished_at - self.started_at, 6)

    def to_dict(self) -> RunEntry:
        """The run as the history stores it (see :mod:`scheduler_proc.formats.history`)."""
        return {  # spelled out: dataclasses.asdict deep-copies, and this runs once per fire
            "job_id": self.job_id,
            "run_id": self.run_id,
            "scheduled_at": self.scheduled_at.isoformat(),
            "node": self.node,
            "term": self.term,
            "origin": self.origin,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "outcome": self.outcome,
            "error": self.error,
            "duration": self.duration,
            "attempts": self.attempts,
        }

    @classmethod
    def from_entry(cls, entry: RunEntry) -> Run:
        """A run from its decoded history entry (one recorded before retries existed made one attempt)."""
        return cls(
            job_id=entry["job_id"],
            run_id=entry["run_id"],
            scheduled_at=datetime.fromisoformat(entry["scheduled_at"]),
            node=entry["node"],
            term=entry["term"],
            origin=entry["origin"],
            started_at=entry["started_at"],
            finished_at=entry["finished_at"],
            outcome=entry["outcome"],
            error=entry["error"],
            attempts=entry.get("attempts", 1),
        )


@dataclass(frozen=True)
class HistoryLimits:
    """Runs kept per job: those that succeeded, and the others (error, abandoned, skipped) apart,
    so a job that fails now and then keeps its failures long after many successes."""

    succeeded: int = 100
    other: int = 200

    def limit_for(self, outcome: RunOutcome) -> int:
        return self.succeeded if outcome == "success" else self.other


DEFAULT_HISTORY = HistoryLimits()


def newest_first(runs: list[Run], limit: int) -> list[Run]:
    """Runs of two histories merged, newest first (by scheduled time, then start)."""
    return sorted(runs, key=lambda run: (run.scheduled_at, run.started_at), reverse=True)[:limit]


def parse_history(job_id: str, entries: list[str]) -> list[Run]:
    """History entries as runs; an entry that is not a run (corrupt, or written by someone else) is left out.

    Anyone who can write to Redis can write here, so no entry may break the page or the CLI.
    """
    runs, unreadable = [], 0
    source = Source(f"history of job {job_id!r}", "left out")
    for entry in entries:
        try:
            runs.append(Run.from_entry(decode_run(entry, source)))
        except UnreadableData:
            unreadable += 1
    key = f"history:{job_id}"
    if unreadable:  # once per job and per count, not on every read of the page
        noun = "y" if unreadable == 1 else "ies"
        report(
            UnreadableData(
                key,
                f"{unreadable} history entr{noun} of job {job_id!r} cannot be read; left out "
                "(they age out of the history, or delete the job's history list)",
            )
        )
    else:
        readable(key)
    return runs


@dataclass(frozen=True)
class RunRecord:
    """The last claimed fire of a job and what became of it."""

    job_id: str
    scheduled_at: datetime
    node: str
    outcome: LastOutcome  # "unknown" when the fire's record expired or cannot be read
    finished_at: float | None


class ClaimRequest(NamedTuple):
    """One fire to claim, and what the cluster-wide max_instances check needs to know."""

    job_id: str
    scheduled_at: datetime
    run_id: str
    manual: bool = False
    max_instances: int = 0  # 0: no check
    # Runs of the job this process claimed and that have not ended, under any of its terms, plus
    # the claims of the job under way beside this one (see runner.instances).
    running_here: int = 0


class LiveRun(NamedTuple):
    """A run this process claimed that has not ended: its running marker is kept (see MarkerKeeper)."""

    job_id: str
    scheduled_at: datetime
    run_id: str


def to_micros(moment: datetime) -> int:
    """A timezone-aware datetime as whole microseconds since the epoch (the claim key)."""
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / 1_000_000, tz=UTC)


#: What an operator may ask the leader to do.
ACTIONS = COMMAND_ACTIONS
#: A command older than this many seconds is dropped, so an old "run now" never fires hours later.
COMMAND_TTL = 30.0
#: An answer nobody collected within this many seconds is deleted.
ACK_TTL = 60


@dataclass(frozen=True)
class Command:
    """One operator request for the leader."""

    id: str
    action: CommandAction
    job_id: str
    issued_at: float
    #: Where the bus keeps it (stream entry id or file path): ``ack`` moves past it once it is carried out.
    cursor: str = field(default="", compare=False)

    def fields(self) -> CommandFields:
        """What goes on the bus (not where the bus keeps it; see :mod:`scheduler_proc.formats.commands`)."""
        return {"id": self.id, "action": self.action, "job_id": self.job_id, "issued_at": self.issued_at}

    @classmethod
    def from_fields(cls, fields: CommandFields, cursor: str) -> Command:
        """A command read from the bus, kept at ``cursor``."""
        return cls(fields["id"], fields["action"], fields["job_id"], fields["issued_at"], cursor)

    @property
    def expired(self) -> bool:
        return time.time() - self.issued_at > COMMAND_TTL

    def manual_fire_time(self) -> datetime:
        """The fire identity of a 'run now': the issue time with an odd microsecond.

        Scheduled fires fall on multiples of 100 ms (even microseconds), so the two
        kinds of claim can never collide.
        """
        micros = int(self.issued_at * 1_000_000) | 1
        return datetime.fromtimestamp(micros / 1_000_000, tz=UTC).replace(microsecond=micros % 1_000_000)

    @classmethod
    def new(cls, action: CommandAction, job_id: str) -> Command:
        return cls(uuid.uuid4().hex[:16], action, job_id, time.time())


def command_from_entry(entry_id: str, fields: dict[str, str]) -> Command | None:
    """A command from a bus entry (every value text); None for a malformed one (skipped; the
    cursor moves past it).

    Anyone who can write to the store can put entries on the bus: an issue time that is not a
    finite time within the last day and the next minute is refused like a missing field.
    """
    try:
        decoded = decode_command_entry(fields, Source(f"command entry {entry_id}", "it is skipped"))
    except UnreadableData:
        return None
    if not time.time() - 86400 < decoded["issued_at"] < time.time() + 60:
        return None
    return Command.from_fields(decoded, entry_id)


#: Where an answer comes from, for the decoder (its message is not shown: the failure below is).
_ANSWER = Source("the leader's answer", "the command is reported as failed")


def parse_ack(raw: str | bytes) -> CommandAck:
    """An answer read back from the bus; anything that is not an answer is a failure."""
    try:
        return decode_ack(raw, _ANSWER)
    except UnreadableData:
        return {"ok": False, "error": "the leader's answer could not be read"}
