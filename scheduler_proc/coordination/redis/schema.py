"""The Redis schema of one namespace: every key, its type, what it holds and how long it lives.

Written down once, here. ``docs/redis-schema.md`` is generated from it (``make
redis-schema-docs``; ``make lint`` fails when it differs), and tests/test_redis_schema.py
checks it against ``keys.py`` (every key has a row) and against the Lua scripts (they write
exactly the fire hash's fields named here).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from scheduler_proc import variables as var
from scheduler_proc.coordination.records import ACK_TTL
from scheduler_proc.coordination.redis.keys import Keys
from scheduler_proc.formats.commands import CommandFields

#: A fire's hash: claim.lua writes the claim (all but the last two), finish.lua the outcome.
FIRE_FIELDS = ("job_id", "scheduled_us", "node", "term", "run_id", "claimed_at", "outcome", "finished_at", "error")
#: The floor's hash (continuity.lua): no fire at or before ``at`` (Redis ms) is claimed, why, and
#: the widest clock margin any node passed.
FLOOR_FIELDS = ("at", "reason", "margin")
#: The leader record's hash, written by runner.appcheck: the leader's SCHEDULER_JOBS, node and tzdata.
APP_FIELDS = ("jobs", "node", "tzdata")
#: Entries the command stream keeps at most (XADD MAXLEN ~); commands expire long before.
COMMANDS_KEPT = 1000


@dataclass(frozen=True)
class KeySchema:
    """One key (or pub/sub channel) of a namespace, as the docs table shows it."""

    attribute: str  # its name in Keys
    kind: str  # its Redis type, or "channel" for pub/sub (no key)
    holds: str  # what it holds (markdown)
    lifetime: str  # how long it lives (markdown)

    def name(self, keys: Keys) -> str:
        """The key's name in ``keys``'s namespace; a key per job or command shows its placeholders."""
        attribute = getattr(keys, self.attribute)
        if not callable(attribute):
            return str(attribute)
        return str(attribute(*(f"<{name}>" for name in inspect.signature(attribute).parameters)))


def _fields(names: tuple[str, ...] | list[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)


def _setting(setting: var.Setting[Any]) -> str:
    return f"`{setting.name}`"


_LEASE = _setting(var.LEASE_TTL)
_FOREVER = "no TTL"

#: Every key of a namespace, in the order the docs show them.
SCHEMA: tuple[KeySchema, ...] = (
    KeySchema("leader", "string", "the lease: `<term>:<nonce>:<node>`", f"{_LEASE}, renewed by the leader"),
    KeySchema("fence", "string", "the term counter (one increment per leadership term)", _FOREVER),
    KeySchema("server", "string", "run id of the Redis server the data was last written under", _FOREVER),
    KeySchema("floor", "hash", _fields(FLOOR_FIELDS), _FOREVER),
    KeySchema("app", "hash", _fields(APP_FIELDS), f"{_FOREVER}; rewritten by each new leader"),
    KeySchema(
        "fire",
        "hash",
        _fields(FIRE_FIELDS),
        f"{_setting(var.CLAIM_RETENTION)} from the claim",
    ),
    KeySchema("last", "hash", "job id -> µs of its last scheduled claim (where catch-up resumes)", _FOREVER),
    KeySchema(
        "paused", "hash", "job id -> when it was paused (epoch seconds)", f"{_FOREVER}; a resume deletes the field"
    ),
    KeySchema(
        "running",
        "zset",
        "run id -> when its marker expires (Redis ms)",
        f"{_LEASE} from the last renewal of a marker",
    ),
    KeySchema("dead", "set", "run-id prefixes of runner processes proven dead", f"{_LEASE} from the last burial"),
    KeySchema(
        "history",
        "list",
        "the job's successful runs as JSON, newest first",
        f"{_FOREVER}; trimmed to {_setting(var.HISTORY_SIZE)} entries",
    ),
    KeySchema(
        "failures",
        "list",
        "the job's other runs (error, timed_out, abandoned, skipped) as JSON, newest first",
        f"{_FOREVER}; trimmed to {_setting(var.HISTORY_FAILURES_SIZE)} entries",
    ),
    KeySchema(
        "commands",
        "stream",
        _fields(list(CommandFields.__annotations__)),
        f"{_FOREVER}; about {COMMANDS_KEPT} entries kept",
    ),
    KeySchema("commands_cursor", "string", "id of the last command the leaders carried out", _FOREVER),
    KeySchema("ack", "string", "the leader's answer to one command, as JSON", f"{ACK_TTL} s"),
    KeySchema("commands_hint", "channel", "a command id: the leader reads the stream now", "(pub/sub)"),
    KeySchema("handover", "channel", "a lease given up: standbys may try at once", "(pub/sub)"),
)


def markdown_table(namespace: str = "<namespace>") -> str:
    """The schema as a markdown table: key, type, contents, lifetime."""
    keys = Keys(namespace)
    lines = ["| key | type | holds | lives |", "|---|---|---|---|"]
    for spec in SCHEMA:
        lines.append(f"| `{spec.name(keys)}` | {spec.kind} | {spec.holds} | {spec.lifetime} |")
    return "\n".join(lines) + "\n"
