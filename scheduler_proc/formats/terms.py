"""``terms.json`` in the state directory: the highest leadership term this node has seen.

Written durably before the node acts under a term, read at start: fencing tokens must never
repeat, even when Redis's term counter goes back.
"""

from __future__ import annotations

import json
from typing import TypedDict

from scheduler_proc.formats.validate import Fields, Source, parse_json


class TermsRecord(TypedDict):
    """The node's memory of terms."""

    highest_term: int


def encode_terms(highest_term: int) -> bytes:
    return json.dumps(TermsRecord(highest_term=highest_term)).encode()


def decode_terms(raw: bytes, source: Source) -> int:
    """The highest term recorded (its plausibility is the reader's to judge)."""
    return Fields(source, parse_json(source, raw)).integer("highest_term")
