"""The Redis schema (scheduler_proc/coordination/redis/schema.py) against the code it describes:
every key of keys.py has a row, the Lua scripts write exactly the hash fields it names, and
docs/redis-schema.md is what it generates."""

from __future__ import annotations

import re
from pathlib import Path

from scheduler_proc.coordination.redis import schema
from scheduler_proc.coordination.redis.keys import Keys
from scripts import redis_schema_docs

LUA = Path(schema.__file__).parent / "lua"

#: Every HSET in the Lua scripts, by script and key expression, and the hash it writes: a new
#: HSET site fails the test until it is named here (and its fields are then checked).
_HSET_SITES = {
    ("claim.lua", "KEYS[i]"): "fire",
    ("finish.lua", "KEYS[i]"): "fire",
    ("continuity.lua", "floor_key"): "floor",
    ("claim.lua", "KEYS[2]"): "last",  # job id -> µs: fields are job ids
    ("settle.lua", "KEYS[1]"): "last",
}
#: Where the scripts read a fire's hash (HGET, HMGET).
_FIRE_READS = {("claim.lua", "KEYS[i]"), ("finish.lua", "KEYS[i]"), ("keep_running.lua", "KEYS[i + 1]")}


def _calls(text: str, command: str) -> list[list[str]]:
    """The arguments after the command name of each ``redis.call('<command>', ...)``, as Lua expressions."""
    found = []
    for match in re.finditer(rf"redis\.call\('{command}',", text):
        depth, position, args, start = 1, match.end(), [], match.end()
        while depth:
            char = text[position]
            depth += char in "([{"
            depth -= char in ")]}"
            if (char == "," and depth == 1) or depth == 0:
                args.append(" ".join(text[start:position].split()))
                start = position + 1
            position += 1
        found.append(args)
    return found


def _written_fields() -> dict[str, set[str]]:
    """Each named hash and the literal field names the scripts HSET in it."""
    written: dict[str, set[str]] = {}
    for path in sorted(LUA.glob("*.lua")):
        for key, *pairs in _calls(path.read_text(), "HSET"):
            site = (path.name, key)
            assert site in _HSET_SITES, f"{path.name} writes a hash at {key}: name it in _HSET_SITES"
            fields = {field.strip("'") for field in pairs[::2] if field.startswith("'")}
            written.setdefault(_HSET_SITES[site], set()).update(fields)
    return written


def test_the_lua_scripts_write_exactly_the_fire_and_floor_fields_the_schema_names() -> None:
    written = _written_fields()
    assert written["fire"] == set(schema.FIRE_FIELDS)
    assert written["floor"] == set(schema.FLOOR_FIELDS)
    assert written["last"] == set()  # its fields are job ids, never literals
    assert len(schema.FIRE_FIELDS) == len(set(schema.FIRE_FIELDS))


def test_the_lua_scripts_read_no_fire_field_the_schema_does_not_name() -> None:
    fire_reads = set()
    for path in LUA.glob("*.lua"):
        text = path.read_text()
        for command in ("HGET", "HMGET"):
            for key, *fields in _calls(text, command):
                if (path.name, key) in _FIRE_READS:
                    fire_reads |= {field.strip("'") for field in fields}
    assert {"run_id", "outcome"} <= fire_reads <= set(schema.FIRE_FIELDS)


def test_every_key_of_a_namespace_has_one_row_in_the_schema() -> None:
    declared = {name for name in vars(Keys) if not name.startswith("_")} - {"prefix", "fire_prefix"}
    rows = [spec.attribute for spec in schema.SCHEMA]
    assert sorted(rows) == sorted(declared)
    keys = Keys("ns")
    assert all(spec.name(keys).startswith("{ns}:") for spec in schema.SCHEMA)
    assert schema.SCHEMA[[spec.attribute for spec in schema.SCHEMA].index("fire")].name(keys) == (
        "{ns}:fire:<job_id>:<scheduled_us>"
    )


def test_the_schema_page_is_what_the_schema_generates() -> None:
    current = redis_schema_docs.PAGE.read_text()
    assert redis_schema_docs.difference(current, redis_schema_docs.render()) == ""
    assert redis_schema_docs.difference("stale", redis_schema_docs.render()).startswith(
        "docs/redis-schema.md differs from scheduler_proc/coordination/redis/schema.py"
    )
