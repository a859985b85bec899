"""Which time zone database this process computes crontab instants with.

A crontab with a time zone fires at instants the tz database decides; two hosts with
different versions (a country that moved its DST rules) can disagree on a fire's instant,
and a standby that takes over would then fire at other times than the leader did. Each
node reports its version, and a standby that differs from the leader says so.
"""

from __future__ import annotations

import functools
import importlib.metadata
import zoneinfo
from pathlib import Path


@functools.lru_cache(maxsize=1)
def tzdata_version() -> str:
    """``system 2025b`` (the first zoneinfo directory with a version), ``tzdata 2026.6`` (the
    PyPI package, which zoneinfo falls back to), or ``unknown``."""
    for directory in zoneinfo.TZPATH:
        try:
            head = (Path(directory) / "tzdata.zi").read_text(errors="replace").split("\n", 1)[0]
        except OSError:
            continue
        if head.startswith("# version "):
            return f"system {head.removeprefix('# version ').strip()}"
    try:
        return f"tzdata {importlib.metadata.version('tzdata')}"
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
