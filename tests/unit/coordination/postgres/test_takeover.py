"""Giving up a dead runner's lease (scheduler_proc/coordination/postgres/takeover.py) against a real
PostgreSQL: a runner killed with -9 leaves its lease token and run-id prefix in the host lock's file;
any process of the host that finds the lock free releases that lease (so another node leads at once,
not a TTL later) and marks the prefix dead. The dead runner is a real child interpreter."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pg_lease_support import SCHEMA, lease_row, node_settings, store
from pg_support import PostgresServer
from support import ROOT

from scheduler_proc.coordination.local.hostlock import HostLock, read_abandoned
from scheduler_proc.coordination.postgres import takeover
from scheduler_proc.coordination.postgres.conn import Client
from scheduler_proc.coordination.postgres.lease import postgres_leadership
from scheduler_proc.settings import Settings

_LEADER = """
import time
from scheduler_proc.coordination.local.hostlock import HostLock
from scheduler_proc.coordination.postgres.conn import Client
from scheduler_proc.coordination.postgres.lease import postgres_leadership
from scheduler_proc.settings import Settings

settings = Settings.from_env()
lock = HostLock(settings.lock_path, "dead-node", master_pid=1, runs="r-dead")
assert lock.try_acquire() and settings.postgres is not None
lease = postgres_leadership(settings, Client(settings.postgres), on_lease=lock.record_lease)
while not lease.leading:
    lease.tick()
    time.sleep(0.05)
print("leading", flush=True)
time.sleep(600)
"""


@pytest.fixture
def settings(tmp_path: Path, postgres_server: PostgresServer) -> Settings:
    (tmp_path / "run").mkdir(mode=0o700)
    # A long TTL: a lease that went early was released, not expired.
    return node_settings(postgres_server, "next-node", ttl=30, more={"SCHEDULER_LOCK_DIR": str(tmp_path / "run")})


@pytest.fixture
def dead_leader(settings: Settings) -> Iterator[str]:
    """A runner that took the host lock and the lease, killed with -9; yields the token it held."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SCHEDULER_POSTGRES_URL": store(settings).url,
        "SCHEDULER_NAMESPACE": settings.namespace,
        "SCHEDULER_NODE_ID": "dead-node",
        "SCHEDULER_LOCK_DIR": str(settings.lock_dir),
        "SCHEDULER_LEASE_TTL": "30",
    }
    child = subprocess.Popen([sys.executable, "-c", _LEADER], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "leading"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    holder = read_abandoned(settings.lock_path)
    assert holder is not None and holder.lease is not None and holder.node == "dead-node"
    yield holder.lease


def test_the_lease_of_a_runner_killed_with_9_is_released_and_its_runs_buried(
    settings: Settings, dead_leader: str, postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    assert lease_row(postgres_server)[1:] == (dead_leader, True)
    with caplog.at_level(logging.INFO, "scheduler.takeover"):
        takeover.release_abandoned(settings)
    assert not lease_row(postgres_server)[2] and "its supervisor released it" in caplog.text
    assert postgres_server.psql(f"SELECT prefix FROM {SCHEMA}.dead") == [("r-dead",)]
    successor = postgres_leadership(settings, Client(store(settings)))
    successor.tick()
    assert successor.leading and successor.leader_node == "next-node"
    successor.release()


def test_nothing_is_released_while_a_live_process_holds_the_host_lock(
    settings: Settings, dead_leader: str, postgres_server: PostgresServer
) -> None:
    alive = HostLock(settings.lock_path, "live-node")
    assert alive.try_acquire()
    try:
        takeover.release_abandoned(settings)
        assert lease_row(postgres_server)[1:] == (dead_leader, True)
    finally:
        alive.release()


def test_a_lease_another_node_took_meanwhile_is_left_alone(
    settings: Settings, dead_leader: str, postgres_server: PostgresServer
) -> None:
    """Release compares the token: a stale record cannot end a newer term."""
    postgres_server.psql(f"UPDATE {SCHEMA}.lease SET expires_at = '-infinity'")  # the dead lease ran out ...
    successor = postgres_leadership(settings, Client(store(settings)))
    successor.tick()  # ... and another node leads
    assert successor.leading
    takeover.release_abandoned(settings)
    assert lease_row(postgres_server)[1] not in ("", dead_leader) and lease_row(postgres_server)[2]
    assert successor.leading
    successor.release()


def test_a_server_that_does_not_answer_is_logged_not_raised(
    settings: Settings, dead_leader: str, postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    postgres_server.kill()
    takeover.release_abandoned(settings)
    assert "could not release its lease" in caplog.text


def test_other_modes_have_no_postgres_lease_to_release(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir(mode=0o700)
    takeover.release_abandoned(Settings.from_env({"SCHEDULER_LOCK_DIR": str(tmp_path / "run")}))
