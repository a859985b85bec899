"""Redis key names (scheduler_proc/coordination/redis/keys.py): every key of a namespace in one hash
slot (scripts touch several at once, also on Redis Cluster), and namespaces apart."""

from __future__ import annotations

from scheduler_proc.coordination.redis.keys import Keys


def _all_keys(keys: Keys) -> list[str]:
    names = [name for name in dir(Keys) if isinstance(getattr(Keys, name), property)]
    fixed = [getattr(keys, name) for name in names]
    return [*fixed, keys.ack("c1"), keys.running("j"), keys.history("j"), keys.failures("j"), keys.fire("j", 10)]


def test_every_key_carries_the_namespace_as_its_hash_tag() -> None:
    every = _all_keys(Keys("shop"))
    assert len(every) > 15 and all(key.startswith("{shop}:") for key in every)
    assert len(set(every)) == len(every), "no two purposes share a key"


def test_two_namespaces_share_no_key() -> None:
    assert not set(_all_keys(Keys("shop"))) & set(_all_keys(Keys("blog")))


def test_a_fire_is_named_by_its_job_and_its_time_in_microseconds() -> None:
    keys = Keys("shop")
    assert keys.fire("nightly", 1_767_225_600_000_000) != keys.fire("nightly", 1_767_225_600_000_001)
    assert keys.fire("nightly", 5).startswith(keys.fire_prefix)
