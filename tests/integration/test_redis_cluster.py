"""Cluster mode on a real Redis Cluster (3 primaries, 3 replicas, started by the fixture):
every second once, a leader killed, and a failover inside the Redis Cluster."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis_support import RedisClusterServers
from support import (
    Host,
    HostFactory,
    assert_no_duplicates,
    assert_no_gaps,
    leader_of,
    read_fires,
    start_nodes,
    wait_for,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServers]:
    cluster = RedisClusterServers(tmp_path_factory.mktemp("redis-cluster")).start()
    yield cluster
    cluster.kill()


def _nodes(hosts: HostFactory, cluster: RedisClusterServers, namespace: str, count: int = 3) -> list[Host]:
    env = {
        "SCHEDULER_REDIS_URL": cluster.url,
        "SCHEDULER_REDIS_CLUSTER": "true",
        "SCHEDULER_LEASE_TTL": "1",
        "SCHEDULER_NAMESPACE": namespace,
    }
    return start_nodes(hosts, count, "ticker:jobs", env)


def _seconds_after(fire_log: Path, moment: float) -> int:
    return len({f["scheduled_at"] for f in read_fires(fire_log) if f["started"] > moment})


def test_every_second_once_on_a_redis_cluster(hosts: HostFactory, redis_cluster: RedisClusterServers) -> None:
    nodes = _nodes(hosts, redis_cluster, "rc-once")
    leader = leader_of(nodes)
    wait_for(lambda: _seconds_after(leader.fire_log, 0) >= 10, 30, "10 seconds of fires")
    fires = read_fires(leader.fire_log)
    assert_no_duplicates(fires)
    assert_no_gaps(fires)
    status = leader.status()
    assert status is not None and status["cluster"]["redis"] == "ok"


def test_kill_9_of_the_leader_on_a_redis_cluster(hosts: HostFactory, redis_cluster: RedisClusterServers) -> None:
    nodes = _nodes(hosts, redis_cluster, "rc-kill")
    leader = leader_of(nodes)
    wait_for(lambda: _seconds_after(leader.fire_log, 0) >= 3, 15, "fires before the kill")
    leader.signal(signal.SIGKILL)
    killed = time.time()
    wait_for(lambda: _seconds_after(leader.fire_log, killed + 1) >= 3, 15, "fires after the kill")
    assert_no_duplicates(read_fires(leader.fire_log))


def test_a_failover_inside_the_redis_cluster_runs_no_fire_twice(
    hosts: HostFactory, redis_cluster: RedisClusterServers
) -> None:
    """The primary holding the namespace's slot is killed; its replica takes over (cluster node
    timeout 1 s). Scheduling resumes on the new primary, and fires that the old one may have
    claimed without replicating are skipped (its run id differs), never run twice."""
    nodes = _nodes(hosts, redis_cluster, "rc-failover")
    leader = leader_of(nodes)
    wait_for(lambda: _seconds_after(leader.fire_log, 0) >= 3, 15, "fires before the failover")
    primary = redis_cluster.primary_for("{rc-failover}:leader")
    primary.kill()
    killed = time.time()
    wait_for(
        lambda: redis_cluster.primary_for("{rc-failover}:leader").port != primary.port, 30, "a replica to take over"
    )
    wait_for(lambda: _seconds_after(leader.fire_log, killed + 1) >= 3, 30, "fires after the failover")
    assert_no_duplicates(read_fires(leader.fire_log))
    assert any("Redis restarted or failed over" in node.output() for node in nodes)
