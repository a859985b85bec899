"""The cluster on Redis alone: its restarts without data, Sentinel failovers, and its settings refused at start
(the suite both stores share is test_cluster.py)."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cluster_support import TTL
from cluster_support import cluster as _cluster
from cluster_support import distinct_seconds as _distinct_seconds
from cluster_support import first_fire_after as _first_fire_after
from cluster_support import wait_seconds_after as _wait_seconds_after
from redis_support import RedisServer, Sentinels
from support import Host, HostFactory, assert_no_duplicates, leader_of, read_fires, wait_for


def test_redis_restart_that_lost_its_data_starts_a_new_term_without_duplicates(
    hosts: HostFactory, redis_server: RedisServer
) -> None:
    nodes = _cluster(hosts, {"SCHEDULER_REDIS_URL": redis_server.url})
    leader = leader_of(nodes)
    wait_for(lambda: _distinct_seconds(read_fires(leader.fire_log)) >= 2, 10, "fires before the restart")
    term_before = max(f["term"] for f in read_fires(leader.fire_log))
    redis_server.restart_empty()
    restarted = time.time()
    _first_fire_after(leader.fire_log, restarted + 0.5)
    _wait_seconds_after(leader.fire_log, restarted, 3, "fires after the restart", timeout=10)
    fires = read_fires(leader.fire_log)
    assert_no_duplicates(fires)
    assert max(f["term"] for f in fires) > term_before
    assert any(n.count_lines("Redis lost its data") for n in nodes)


@pytest.fixture
def sentinel_cluster(hosts: HostFactory, tmp_path: Path) -> Iterator[tuple[RedisServer, Sentinels, list[Host]]]:
    """A primary, two replicas, three sentinels, and three nodes that need one replica per claim."""
    master = RedisServer(tmp_path / "master").start()
    replicas = [RedisServer(tmp_path / f"replica-{i}", replica_of=master.port).start() for i in range(2)]
    sentinels = Sentinels(tmp_path / "sentinel", master.port).start()
    try:
        nodes = [
            hosts(
                f"node-{i}",
                workers=1,
                env={
                    "SCHEDULER_REDIS_SENTINELS": sentinels.spec,
                    "SCHEDULER_REDIS_SENTINEL_MASTER": sentinels.name,
                    "SCHEDULER_LEASE_TTL": str(TTL),
                    "SCHEDULER_REDIS_MIN_REPLICAS": "1",
                },
            )
            for i in range(3)
        ]
        for node in nodes:
            node.start()
        yield master, sentinels, nodes
    finally:
        sentinels.kill()
        for server in [master, *replicas]:
            server.kill()


def test_sentinel_failover_resumes_scheduling_without_duplicates(
    sentinel_cluster: tuple[RedisServer, Sentinels, list[Host]],
) -> None:
    master, sentinels, nodes = sentinel_cluster
    leader = leader_of(nodes, timeout=20)
    wait_for(lambda: _distinct_seconds(read_fires(leader.fire_log)) >= 3, 15, "fires before the failover")
    master.kill()
    killed = time.time()
    wait_for(lambda: sentinels.master_port_now() not in (None, master.port), 20, "the sentinel failover")
    _first_fire_after(leader.fire_log, killed + 0.5)
    _wait_seconds_after(leader.fire_log, killed, 3, "fires after the failover", timeout=20)
    assert_no_duplicates(read_fires(leader.fire_log))


def test_a_primary_that_returns_after_the_failover_takes_no_claim_that_counts(
    sentinel_cluster: tuple[RedisServer, Sentinels, list[Host]],
) -> None:
    """make chaos SENTINEL=1 found doubles here: the old primary, paused through the failover,
    took writes for ~10 s until Sentinel demoted it, and a node whose pool still reached it
    led there too while its WAIT went to the new primary. Whether a pool ends up split that
    way is timing; test_lease pins the fix (WAIT on the claims' connection) deterministically."""
    master, sentinels, nodes = sentinel_cluster
    leader = leader_of(nodes, timeout=20)
    wait_for(lambda: _distinct_seconds(read_fires(leader.fire_log)) >= 3, 15, "fires before the pause")
    master.signal(signal.SIGSTOP)
    try:
        wait_for(lambda: sentinels.master_port_now() not in (None, master.port), 20, "the sentinel failover")
    finally:
        master.signal(signal.SIGCONT)
    resumed = time.time()
    wait_for(lambda: master.client().info("replication")["role"] == "slave", 30, "Sentinel to demote the old primary")
    _wait_seconds_after(leader.fire_log, max(resumed, time.time() - 1), 3, "fires after the demotion", timeout=20)
    assert_no_duplicates(read_fires(leader.fire_log))


BAD: dict[str, tuple[Callable[[RedisServer], dict[str, str]], str]] = {
    "wrong password": (
        lambda r: {"SCHEDULER_REDIS_URL": f"redis://:wrong@127.0.0.1:{r.port}/0"},
        r"Redis at redis://:\*\*\*@127.0.0.1:\d+/0 refused the credentials .*check the user and "
        r"password in SCHEDULER_REDIS_URL",
    ),
    "tls to a plain server": (
        lambda r: {"SCHEDULER_REDIS_URL": f"rediss://127.0.0.1:{r.port}/0"},
        r"TLS with Redis at rediss://127.0.0.1:\d+/0 failed .*SCHEDULER_REDIS_TLS_CA_FILE",
    ),
    "bad scheme": (
        lambda r: {"SCHEDULER_REDIS_URL": "http://:pw@127.0.0.1/0"},
        r"SCHEDULER_REDIS_URL='http://:\*\*\*@127.0.0.1/0' is invalid: scheme http:// is not supported",
    ),
    "missing CA file": (
        lambda r: {
            "SCHEDULER_REDIS_URL": f"rediss://127.0.0.1:{r.port}/0",
            "SCHEDULER_REDIS_TLS_CA_FILE": "/nonexistent/ca.pem",
        },
        r"SCHEDULER_REDIS_TLS_CA_FILE='/nonexistent/ca.pem' is invalid: the file does not exist",
    ),
    "sentinel without master": (
        lambda r: {"SCHEDULER_REDIS_SENTINELS": f"127.0.0.1:{r.port}"},
        r"SCHEDULER_REDIS_SENTINELS is set without SCHEDULER_REDIS_SENTINEL_MASTER",
    ),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_redis_setting_refuses_to_start_with_a_clear_error(hosts: HostFactory, tmp_path: Path, case: str) -> None:

    server = RedisServer(tmp_path / "pw-redis", password="sekret").start()
    try:
        env_for, expected = BAD[case]
        host = hosts(env=env_for(server))
        host.start()
        assert host.wait_exit(30) != 0
        output = host.output()
        assert re.search(r"Error: scheduler: .*" + expected, output), output
        assert "sekret" not in output and "Traceback" not in output and "Listening at" not in output
    finally:
        server.kill()
