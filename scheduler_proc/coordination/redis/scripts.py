"""The Lua scripts the kit runs in Redis, read from ``lua/<name>.lua``.

Each file starts with a header: one line per KEYS and ARGV entry and what it returns. A
``-- uses: <library>`` line puts that library file (functions only) before the script, and
``MAX_TERM`` stands for the largest term the kit accepts. Scripts are run by their SHA1 with
an EVAL fallback (see conn.LuaScript), not with redis-py's ``register_script``, whose
SCRIPT LOAD fails after a Sentinel failover when a pool reaches two servers.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

from scheduler_proc.coordination.term import MAX_TERM

_USES = re.compile(r"^-- uses: (\w+)$", re.MULTILINE)


@functools.cache
def source(name: str) -> str:
    """The full source of script ``name``: the libraries it uses, then its own text."""
    text = (resources.files(__package__) / "lua" / f"{name}.lua").read_text(encoding="utf-8")
    libraries = [source(library) for library in _USES.findall(text)]
    return "\n".join([*libraries, text]).replace("MAX_TERM", str(MAX_TERM))
