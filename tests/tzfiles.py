"""Time zones made up for tests: TZif files (RFC 8536) whose clock changes when a test wants it.

A real host's clock is left alone; a process started with ``PYTHONTZPATH`` pointing at
the directory sees the zone like any IANA zone (``zoneinfo.ZoneInfo("Kit/Forward")``).
"""

from __future__ import annotations

import struct
from pathlib import Path


def write_zone(root: Path, name: str, before: int, after: int, change_at: int) -> Path:
    """Write zone ``name`` under ``root``: UTC offset ``before`` (s) until ``change_at`` (Unix time), then ``after``."""
    types = [(before, 0, 0), (after, int(after > before), 4)]
    designations = b"AAA\0BBB\0"

    def block(time_format: str) -> bytes:
        counts = struct.pack(">6l", 0, 0, 0, 1, len(types), len(designations))
        body = struct.pack(">" + time_format, change_at) + bytes([1])
        body += b"".join(struct.pack(">lBB", *entry) for entry in types) + designations
        return b"TZif2" + b"\0" * 15 + counts + body

    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    # Version 2: a 32-bit block, a 64-bit block, then the footer (empty: the last type stays).
    path.write_bytes(block("l") + block("q") + b"\n\n")
    return path
