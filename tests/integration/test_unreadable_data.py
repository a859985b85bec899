"""Unreadable coordination data in Redis (and terms.json): named once with its fix, never a crash or a stall.

Anyone who can write to Redis can put anything under the namespace's keys. Each row writes
one such value before a real host starts and asserts that the host leads, keeps one runner
process, goes on firing, and logs the key and the fix exactly once. The lease's own bound
(re-election within two lease TTLs plus a second) is pinned in-process, on the real clock.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from redis_support import RedisServer
from support import HostFactory, read_fires, wait_for

from scheduler_proc.coordination.local.nodestate import TermMemory
from scheduler_proc.coordination.redis.conn import connect
from scheduler_proc.coordination.redis.keys import Keys
from scheduler_proc.coordination.redis.lease import redis_leadership
from scheduler_proc.coordination.redis.leasecalls import parse_token
from scheduler_proc.settings import RedisSettings, Settings

K = Keys("scheduler")
HUGE = "100000000000000000000:abcdef012345:evil"

#: (what, how it is written, what the log must say exactly once)
GARBAGE: list[tuple[str, Callable[[redis.Redis], object], str]] = [
    (
        "a lease that is not a token",
        lambda c: c.set(K.leader, "garbage"),
        r"Redis key \{scheduler\}:leader holds 'garbage', not a lease token .*DEL '\{scheduler\}:leader'",
    ),
    (
        "a lease with a term of 10^20",
        lambda c: c.set(K.leader, HUGE),
        r"Redis key \{scheduler\}:leader holds '100000000000000000000:.*', not a lease token",
    ),
    (
        "a command cursor that is not a stream id",
        lambda c: c.set(K.commands_cursor, "xyz"),
        r"Redis key \{scheduler\}:commands:cursor holds 'xyz', not a stream id; .*DEL '\{scheduler\}:commands:cursor'",
    ),
    (
        "a command stream that is a hash",
        lambda c: c.hset(K.commands, "a", "b"),
        r"Redis key \{scheduler\}:commands is a hash, not a stream; .*DEL '\{scheduler\}:commands'",
    ),
    (
        "a term counter that is not a number",
        lambda c: c.set(K.fence, "many"),
        r"scheduler.lease: the term counter \{scheduler\}:fence held 'many', not a term",
    ),
    (
        "a term counter of 10^20",
        lambda c: c.set(K.fence, "1e+20"),
        r"scheduler.lease: the term counter \{scheduler\}:fence held '1e\+20', not a term",
    ),
    (
        "a floor that is not a number",
        lambda c: c.hset(K.floor, mapping={"at": "soon", "margin": "wide"}),
        r"scheduler.lease: .*the floor \{scheduler\}:floor held 'soon', not a time",
    ),
    (
        "a last claim that is not a number",
        lambda c: c.hset(K.last, "tick", "yesterday"),
        r"Redis key \{scheduler\}:last holds 'yesterday' for tick, not a time .*HDEL '\{scheduler\}:last' 'tick'",
    ),
    (
        "a server id that is a list",
        lambda c: c.rpush(K.server, "x"),
        r"scheduler.lease: .*Redis key \{scheduler\}:server held a list, not a run id \(the kit replaced it\)",
    ),
    (
        "a dead set that is a string",
        lambda c: c.set(K.dead, "x"),
        r"Redis key \{scheduler\}:dead is a string, not a set; .*DEL '\{scheduler\}:dead'",
    ),
    (
        "a running set that is a string",
        lambda c: c.set(K.running("tick"), "x"),
        r"Redis key \{scheduler\}:running:tick is a string, not a zset; .*DEL '\{scheduler\}:running:tick'",
    ),
]


@pytest.mark.parametrize("what, write, logged", GARBAGE, ids=[g[0] for g in GARBAGE])
def test_unreadable_data_is_named_once_and_the_cluster_leads_and_fires_on(
    hosts: HostFactory,
    redis_server: RedisServer,
    what: str,
    write: Callable[[redis.Redis], object],
    logged: str,
) -> None:
    client = redis_server.client()
    write(client)
    host = hosts("node-a", env={"SCHEDULER_REDIS_URL": redis_server.url, "SCHEDULER_LEASE_TTL": "2"})
    host.start()
    host.wait_role("leader", timeout=30)
    pids = wait_for(host.runner_pids, 10, "the runner")
    seen = len(read_fires(host.fire_log))
    wait_for(lambda: len(read_fires(host.fire_log)) >= seen + 4, 20, "fires going on")
    assert host.runner_pids() == pids, f"the runner was restarted\n{host.output()}"
    host.wait_log(logged)
    assert host.count_lines(logged) == 1, host.output()
    assert "Traceback" not in host.output()
    terms = json.loads((host.dir / "state" / "scheduler.terms.json").read_text())["highest_term"]
    assert terms < 2**53, terms


def _settings(server: RedisServer, ttl: float) -> RedisSettings:
    settings = Settings.from_env({"SCHEDULER_REDIS_URL": server.url, "SCHEDULER_LEASE_TTL": str(ttl)}).redis
    assert settings is not None
    return settings


@pytest.mark.parametrize("when", ["before anyone leads", "over a live leader's token"])
def test_a_leader_is_elected_within_two_lease_ttls_of_an_unreadable_lease_and_never_two(
    redis_server: RedisServer, when: str
) -> None:
    ttl = 2.0
    settings = _settings(redis_server, ttl)
    nodes = [redis_leadership(settings, connect(settings), Keys("t"), name) for name in ("a", "b")]
    client = redis_server.client()
    if when == "over a live leader's token":

        def ticked_and_led() -> bool:
            for node in nodes:
                node.tick()
            return any(n.leading for n in nodes)

        wait_for(ticked_and_led, 10, "a first leader")
    before = {n.state.lease_token for n in nodes}
    client.set(Keys("t").leader, "garbage")  # no TTL
    written = time.monotonic()
    while not any(n.leading and n.state.lease_token not in before for n in nodes):
        for node in nodes:
            node.tick()
        assert sum(n.leading for n in nodes) <= 1, "two leaders at once"
        assert time.monotonic() - written <= 2 * ttl + 1, f"no leader {2 * ttl + 1}s after the lease became unreadable"
        time.sleep(0.02)
    leader = next(n for n in nodes if n.leading)
    assert leader.state.lease_token is not None and parse_token(leader.state.lease_token) is not None


def test_a_live_leaders_token_is_never_touched(redis_server: RedisServer) -> None:
    settings = _settings(redis_server, 2.0)
    client = redis_server.client()
    client.set(Keys("t").leader, "7:abcdef012345:other", px=60_000)  # another node's, with a longer TTL of its own
    standby = redis_leadership(settings, connect(settings), Keys("t"), "b")
    standby.tick()
    assert client.get(Keys("t").leader) == "7:abcdef012345:other" and client.pttl(Keys("t").leader) > 50_000
    assert standby.leader_node == "other" and not standby.leading


def test_an_implausible_term_is_never_remembered(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "terms.json"
    memory = TermMemory(path)
    memory.saw(12)
    memory.saw(10**20)
    assert memory.highest == 12 and json.loads(path.read_text())["highest_term"] == 12
    path.write_text(json.dumps({"highest_term": 10**20}))
    with caplog.at_level(logging.WARNING):
        assert TermMemory(path).highest == 0
    assert f"{path} holds term 100000000000000000000" in caplog.text
