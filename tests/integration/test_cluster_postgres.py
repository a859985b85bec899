"""The cluster on PostgreSQL alone: what only PostgreSQL does (a restart; a server that turns read-only) - the
suite both stores share is test_cluster.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_support import TTL
from cluster_support import cluster as _cluster
from cluster_support import distinct_seconds as _distinct_seconds
from cluster_support import wait_seconds_after as _wait_seconds_after
from pg_support import PostgresServer
from stores import PostgresStore
from support import HostFactory, assert_no_duplicates, leader_of, read_fires, wait_for


@pytest.fixture
def postgres_store(tmp_path: Path) -> Iterator[PostgresStore]:
    """The PostgreSQL store alone, for what only PostgreSQL does."""
    store = PostgresStore(tmp_path / "postgres")
    store.start()
    yield store
    store.kill()


def test_a_postgres_restart_moves_the_floor_and_runs_no_fire_twice(
    hosts: HostFactory, postgres_store: PostgresStore
) -> None:
    """A restart cannot be told from a snapshot of the data directory put back (its terms come back ahead,
    its identity unchanged), so, as on Redis, the floor moves past it: fires due while PostgreSQL was
    down are skipped and logged, never run twice."""
    nodes = _cluster(hosts, postgres_store.env(), count=2)
    leader = leader_of(nodes)
    wait_for(lambda: _distinct_seconds(read_fires(leader.fire_log)) >= 2, 10, "fires before the restart")
    floor = postgres_store.floor_at()
    down = time.time()
    postgres_store.server.restart(down_for=3 * TTL)
    _wait_seconds_after(leader.fire_log, down + 3 * TTL + 1, 3, "fires after the restart", timeout=15)
    assert_no_duplicates(read_fires(leader.fire_log))
    moved = postgres_store.floor_at()
    assert floor is not None and moved is not None and moved > down > floor, (floor, down, moved)
    assert any(n.count_lines("PostgreSQL restarted") for n in nodes)
    assert any(n.count_lines(r"are not started") for n in nodes), "the fires skipped are named in the log"


def test_a_postgres_that_turns_read_only_stops_the_leader_until_it_takes_writes_again(
    hosts: HostFactory, postgres_store: PostgresStore
) -> None:
    """A failover that left SCHEDULER_POSTGRES_URL on a read-only server (or a revoked privilege): every
    node stands by, says why in its status, and leads again once the server takes its statements."""
    server: PostgresServer = postgres_store.server
    nodes = _cluster(hosts, postgres_store.env(), count=2)
    leader = leader_of(nodes)
    wait_for(lambda: _distinct_seconds(read_fires(leader.fire_log)) >= 2, 10, "fires before")
    server.read_only(True)
    wait_for(
        lambda: all(((n.status() or {}).get("cluster") or {}).get("store_state") == "error" for n in nodes),
        10,
        "every node to show the store refusing",
    )
    quiet = time.time() + 1
    wait_for(lambda: time.time() > quiet, 2, "a second while read-only")
    assert not [f for f in read_fires(leader.fire_log) if f["started"] > quiet], "a fire ran on a read-only store"
    server.read_only(False)
    back = time.time()
    _wait_seconds_after(leader.fire_log, back, 3, "fires once it takes writes", timeout=15)
    assert_no_duplicates(read_fires(leader.fire_log))
    assert any(n.count_lines("read-only") for n in nodes)
