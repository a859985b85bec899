"""The Lua scripts (scheduler_proc/coordination/redis/scripts.py and lua/): each file opens with its
header, one line per KEYS and ARGV entry; libraries are put before the scripts that use them."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from scheduler_proc.coordination.redis import scripts
from scheduler_proc.coordination.term import MAX_TERM

NAMES = sorted(p.name.removesuffix(".lua") for p in (resources.files(scripts.__package__) / "lua").iterdir())


def test_there_are_scripts() -> None:
    assert {"acquire", "renew", "release", "claim", "finish"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_script_opens_with_its_header(name: str) -> None:
    text = (resources.files(scripts.__package__) / "lua" / f"{name}.lua").read_text()
    header = text.split("\n\n", 1)[0]
    assert header.startswith(f"-- {name}"), "the first line names the script and what it does"
    body = text.split("\n\n", 1)[-1]
    assert all(line.startswith("--") for line in header.splitlines())
    for table in ("KEYS", "ARGV"):
        if f"{table}[" in body:
            assert table in header, f"a script that reads {table} says what each entry holds"


@pytest.mark.parametrize("name", NAMES)
def test_the_source_sent_to_redis_has_its_libraries_and_no_placeholder(name: str) -> None:
    text = scripts.source(name)
    assert "MAX_TERM" not in text
    for library in re.findall(r"^-- uses: (\w+)$", text, re.MULTILINE):
        assert text.index(scripts.source(library)) < text.index(f"-- uses: {library}")
    if "MAX_TERM" in (resources.files(scripts.__package__) / "lua" / f"{name}.lua").read_text():
        assert str(MAX_TERM) in text
