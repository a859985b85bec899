"""Command acknowledgements: the leader's answer to an operator's run / pause / resume.

The leader writes it on the command bus (a file beside the host lock, or a Redis key); the
worker or CLI that sent the command reads it back. ``error`` says why when ``ok`` is False.
"""

from __future__ import annotations

import json
from typing import Required, TypedDict

from scheduler_proc.formats.validate import Fields, Source, parse_json
from scheduler_proc.formats.vocabulary import MANUAL_RUN_RESULTS, ManualRunResult


class CommandAck(TypedDict, total=False):
    """The leader's answer to one command; ``error`` says why when ``ok`` is False."""

    ok: Required[bool]
    job_id: str
    paused: bool  # pause / resume
    run_id: str  # run: the run that was (or would have been) made
    scheduled_at: str  # run: the fire's identity, ISO 8601
    result: ManualRunResult | None  # run: what became of it
    reason: str | None
    error: str


def encode_ack(ack: CommandAck) -> str:
    """The answer as the bus stores it."""
    return json.dumps(ack)


def decode_ack(raw: bytes | str, source: Source) -> CommandAck:
    """An answer read back from the bus; UnreadableData when it is not one."""
    fields = Fields(source, parse_json(source, raw))
    ack = CommandAck(ok=fields.boolean("ok"))
    if fields.has("job_id"):
        ack["job_id"] = fields.text("job_id")
    if fields.has("paused"):
        ack["paused"] = fields.boolean("paused")
    if fields.has("run_id"):
        ack["run_id"] = fields.text("run_id")
    if fields.has("scheduled_at"):
        ack["scheduled_at"] = fields.text("scheduled_at")
    if fields.has("result"):
        ack["result"] = fields.optional_choice("result", MANUAL_RUN_RESULTS)
    if fields.has("reason"):
        ack["reason"] = fields.optional_text("reason")
    if fields.has("error"):
        ack["error"] = fields.text("error")
    return ack
