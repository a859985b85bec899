"""Exactly once across hosts, with real gunicorn masters on a real store: each test of the cluster runs on
Redis and on PostgreSQL (the ``store`` fixture); the store's own faults are in test_cluster_store_faults.py,
what only one store has in test_cluster_redis.py and test_cluster_postgres.py."""

from __future__ import annotations

import os
import signal
import time
from datetime import datetime

import pytest
from cluster_support import TTL
from cluster_support import cluster as _cluster
from cluster_support import distinct_seconds as _distinct_seconds
from cluster_support import first_fire_after as _first_fire_after
from cluster_support import wait_seconds_after as _wait_seconds_after
from stores import ClusterStore
from support import HostFactory, assert_no_duplicates, assert_no_gaps, leader_of, read_fires, wait_for


def test_three_nodes_run_each_second_exactly_once(hosts: HostFactory, store: ClusterStore) -> None:
    nodes = _cluster(hosts, store.env(), workers=2)
    leader = leader_of(nodes)
    fire_log = leader.fire_log
    wait_for(lambda: _distinct_seconds(read_fires(fire_log)) >= 15, 30, "15 seconds of fires")
    fires = read_fires(fire_log)
    assert_no_duplicates(fires)
    assert_no_gaps(fires)
    assert all(isinstance(f["term"], int) and f["term"] >= 1 for f in fires)
    status = leader.status()
    assert status is not None and status["mode"] == "cluster"
    cluster = status["cluster"]
    assert cluster["leader_node"] == leader.name and cluster["term"] >= 1
    assert cluster["store"] == store.name and cluster["store_state"] == "ok"
    assert status["jobs"][0]["last_claimed_at"] is not None
    standby = next(n for n in nodes if n is not leader).status()
    assert standby is not None and standby["role"] == "standby" and standby["cluster"]["leader_node"] == leader.name
    up = f'scheduler_store_up{{node="{leader.name}",store="{store.name}"}} 1.0'
    wait_for(lambda: up in leader.get("/metrics").text, 5, f"{up} in /metrics")


@pytest.mark.parametrize("victim", ["runner", "master"])
def test_kill_9_of_the_leader_fails_over_within_ttl_without_loss_or_double(
    hosts: HostFactory, store: ClusterStore, victim: str
) -> None:
    nodes = _cluster(hosts, store.env())
    leader = leader_of(nodes)
    wait_for(lambda: _distinct_seconds(read_fires(leader.fire_log)) >= 3, 10, "fires before the fault")
    [runner] = leader.runner_pids()
    os.kill(runner if victim == "runner" else leader.master_pid, signal.SIGKILL)
    killed = time.time()
    resumed = _first_fire_after(leader.fire_log, killed, exclude_pid=runner)
    assert resumed - killed <= TTL + 1 + 0.5, f"took {resumed - killed:.2f}s to fail over"
    _wait_seconds_after(leader.fire_log, killed, 4, "fires after the failover", timeout=10)
    fires = read_fires(leader.fire_log)
    assert_no_duplicates(fires)
    assert_no_gaps(fires)


def test_a_paused_leader_steps_down_and_never_runs_twice(hosts: HostFactory, store: ClusterStore) -> None:
    nodes = _cluster(hosts, store.env())
    leader = leader_of(nodes)
    wait_for(lambda: _distinct_seconds(read_fires(leader.fire_log)) >= 2, 10, "fires before the pause")
    [runner] = leader.runner_pids()
    os.kill(runner, signal.SIGSTOP)
    stopped = time.time()
    wait_for(lambda: time.time() - stopped >= 3 * TTL, 3 * TTL + 1, "three lease TTLs to pass")
    os.kill(runner, signal.SIGCONT)
    woke = time.time()
    leader.wait_log(r"(could not be renewed in time|is no longer ours)", timeout=5)
    _wait_seconds_after(leader.fire_log, woke, 3, "fires after the wake-up", timeout=10)
    fires = read_fires(leader.fire_log)
    assert not [f for f in fires if f["pid"] == runner and f["started"] > woke], "the woken leader ran a fire"
    assert_no_duplicates(fires)


def test_clean_stop_of_the_leader_hands_over_within_2s_without_loss(hosts: HostFactory, store: ClusterStore) -> None:
    nodes = _cluster(hosts, store.env())
    leader = leader_of(nodes)
    wait_for(lambda: _distinct_seconds(read_fires(leader.fire_log)) >= 2, 10, "fires before the stop")
    [runner] = leader.runner_pids()
    leader.signal(signal.SIGTERM)
    stopped = time.time()
    resumed = _first_fire_after(leader.fire_log, stopped, exclude_pid=runner)
    assert resumed - stopped <= 2.0, f"handover took {resumed - stopped:.2f}s"
    leader.wait_exit(15)
    _wait_seconds_after(leader.fire_log, stopped, 3, "fires after the handover", timeout=10)
    fires = read_fires(leader.fire_log)
    assert_no_duplicates(fires)
    assert_no_gaps(fires)
    assert "lease released" in leader.output()


def test_scheduled_at_is_the_fire_time_not_the_start_time(hosts: HostFactory, store: ClusterStore) -> None:
    [node] = _cluster(hosts, store.env(), count=1)
    wait_for(lambda: read_fires(node.fire_log), 10, "a fire")
    fire = read_fires(node.fire_log)[0]
    scheduled = datetime.fromisoformat(fire["scheduled_at"])
    assert scheduled.tzinfo is not None and scheduled.microsecond == 0
    assert 0 <= fire["started"] - scheduled.timestamp() < 1
