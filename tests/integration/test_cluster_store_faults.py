"""The store's own faults (paused, back from an older backup, connections cut, down at start), with real
gunicorn masters: each test runs on Redis and on PostgreSQL (the ``store`` fixture)."""

from __future__ import annotations

import time
from pathlib import Path

from cluster_support import STANDBY_LINE, TTL
from cluster_support import cluster as _cluster
from cluster_support import distinct_seconds as _distinct_seconds
from cluster_support import first_fire_after as _first_fire_after
from cluster_support import wait_seconds_after as _wait_seconds_after
from stores import ClusterStore, StoreName, hold_port, make_store
from support import HostFactory, assert_no_duplicates, assert_no_gaps, leader_of, read_fires, wait_for


def test_the_store_paused_then_back_no_duplicate_and_leadership_resumes(
    hosts: HostFactory, store: ClusterStore
) -> None:
    nodes = _cluster(hosts, store.env())
    leader = leader_of(nodes)
    wait_for(lambda: _distinct_seconds(read_fires(leader.fire_log)) >= 2, 10, "fires before the pause")
    store.pause()
    paused = time.time()
    wait_for(lambda: time.time() - paused >= 3 * TTL, 3 * TTL + 1, "three lease TTLs to pass")
    store.resume()
    back = time.time()
    resumed = _first_fire_after(leader.fire_log, back)
    assert resumed - back <= 2 + 1, f"leadership took {resumed - back:.2f}s to resume"
    _wait_seconds_after(leader.fire_log, back, 3, "fires after Redis came back", timeout=10)
    fires = read_fires(leader.fire_log)
    assert_no_duplicates(fires)
    assert_no_gaps(fires)
    assert sum(n.count_lines(STANDBY_LINE) for n in nodes) <= len(nodes), "one line per state change"


def test_a_store_back_from_an_older_backup_runs_no_fire_twice(hosts: HostFactory, store: ClusterStore) -> None:
    """Redis from an older snapshot, PostgreSQL from an older dump: every claim made since is gone."""
    nodes = _cluster(hosts, store.env())
    leader = leader_of(nodes)
    wait_for(lambda: _distinct_seconds(read_fires(leader.fire_log)) >= 2, 10, "fires before the backup")
    store.keep_for_later()
    kept = time.time()
    _wait_seconds_after(leader.fire_log, kept, 3, "fires after the backup")
    store.back_to_kept()
    restored = time.time()
    _wait_seconds_after(leader.fire_log, restored, 3, "fires after the restore", timeout=15)
    assert_no_duplicates(read_fires(leader.fire_log))
    assert any(n.count_lines(f"claims made before may be gone from {store.label}") for n in nodes)


def test_connections_cut_by_the_store_no_double_and_scheduling_goes_on(hosts: HostFactory, store: ClusterStore) -> None:
    """An operator's pg_terminate_backend (or Redis's CLIENT KILL) on every node's connections at once."""
    nodes = _cluster(hosts, store.env())
    leader = leader_of(nodes)
    wait_for(lambda: _distinct_seconds(read_fires(leader.fire_log)) >= 2, 10, "fires before the cut")
    for _ in range(3):
        store.cut_connections()
        cut = time.time()
        _wait_seconds_after(leader.fire_log, cut, 2, "fires after the cut", timeout=10)
    fires = read_fires(leader.fire_log)
    assert_no_duplicates(fires)
    assert_no_gaps(fires)


def test_the_store_down_at_start_then_up_leads_within_2s(
    hosts: HostFactory, tmp_path: Path, store_kind: StoreName
) -> None:
    server = make_store(store_kind, tmp_path / "late-store")
    # Hold the port, bound but not listening (connections are refused, as to a store that is down),
    # until this store starts: another test's server took it meanwhile once (a read-only replica).
    holder = hold_port(server.port)
    nodes = _cluster(hosts, server.env(), count=2)
    for node in nodes:
        node.wait_role("standby", timeout=20)
        node.wait_log("is unreachable")
    wait_for(
        lambda: ((nodes[0].status() or {}).get("cluster") or {}).get("store_state") == "unreachable",
        3,
        "the status to show the store unreachable",
    )
    holder.close()
    server.start()
    try:
        up = time.time()
        resumed = _first_fire_after(nodes[0].fire_log, up)
        # This store has no data, so the new leader set a floor 2 x SCHEDULER_MAX_CLOCK_OFFSET (2 s)
        # past its lease: the first fire comes at the first whole second after it. Judged from the
        # floor, the lease won and the fire that followed are each measured on their own (judged
        # together, 2 s of floor plus up to 1 s to the next second left no room for a loaded machine).
        floor = server.floor_at()
        assert floor is not None, "the new leader set no floor"
        assert floor - 2 - up <= 2, "the lease was not won within 2 s of the store coming up"
        assert resumed - floor <= 1 + 0.5, "the first fire after the floor came late"
        assert all(n.count_lines(STANDBY_LINE) == 1 for n in nodes), "one line per state change"
        leader_of(nodes).wait_log("is reachable again")
    finally:
        server.kill()
