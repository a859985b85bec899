"""Operator commands on the bus: what an HTTP worker or the CLI asks the leader to do.

Two carriers, one record: single-host mode writes each command as a JSON file beside the host
lock (``issued_at`` a JSON number), cluster mode as a Redis stream entry (every value text,
as Redis keeps it). Where the bus keeps a command (file or entry id) is the bus's business.
"""

from __future__ import annotations

import json
import math
from typing import TypedDict

from scheduler_proc.formats.validate import Fields, Source, parse_json
from scheduler_proc.formats.vocabulary import COMMAND_ACTIONS, CommandAction


class CommandFields(TypedDict):
    """One command as the bus carries it."""

    id: str
    action: CommandAction
    job_id: str
    issued_at: float  # wall time, seconds: a command expires some seconds after it


def encode_command_file(command: CommandFields) -> bytes:
    """A command as single-host mode's file holds it."""
    return json.dumps(command).encode()


def decode_command_file(raw: bytes, source: Source) -> CommandFields:
    """A command from single-host mode's file."""
    fields = Fields(source, parse_json(source, raw))
    return _command(fields, fields.number("issued_at"))


def encode_command_entry(command: CommandFields) -> dict[str, str]:
    """A command as a stream entry's fields (the time as redis-py would write the float: its repr)."""
    return {
        "id": command["id"],
        "action": command["action"],
        "job_id": command["job_id"],
        "issued_at": repr(command["issued_at"]),
    }


def decode_command_entry(entry: dict[str, str], source: Source) -> CommandFields:
    """A command from a Redis stream entry (every field text; the issue time a number in it)."""
    fields = Fields(source, entry)
    issued = fields.text("issued_at")
    try:
        issued_at = float(issued)
    except ValueError:
        issued_at = math.nan
    if not math.isfinite(issued_at):
        raise source.error("issued_at", issued, "a time in seconds")
    return _command(fields, issued_at)


def _command(fields: Fields, issued_at: float) -> CommandFields:
    return CommandFields(
        id=fields.text("id"),
        action=fields.choice("action", COMMAND_ACTIONS),
        job_id=fields.text("job_id"),
        issued_at=issued_at,
    )
