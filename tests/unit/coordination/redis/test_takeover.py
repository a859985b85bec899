"""Giving up a dead runner's lease (scheduler_proc/coordination/redis/takeover.py) against a real
redis-server: a runner killed with -9 leaves its lease token in the host lock's file; any process of
the host that finds the lock free releases that lease, so another node leads at once, not a TTL
later. The dead runner is a real child interpreter that takes the lock and the lease, then SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis_support import RedisServer
from support import ROOT

from scheduler_proc.coordination.local.hostlock import HostLock, read_abandoned
from scheduler_proc.coordination.redis import takeover
from scheduler_proc.coordination.redis.conn import connect
from scheduler_proc.coordination.redis.keys import Keys
from scheduler_proc.coordination.redis.lease import redis_leadership
from scheduler_proc.settings import Settings

_LEADER = """
import sys, time
from scheduler_proc.coordination.local.hostlock import HostLock
from scheduler_proc.coordination.redis.conn import connect
from scheduler_proc.coordination.redis.keys import Keys
from scheduler_proc.coordination.redis.lease import redis_leadership
from scheduler_proc.settings import Settings

settings = Settings.from_env()
lock = HostLock(settings.lock_path, "dead-node", master_pid=1, runs="r-dead")
assert lock.try_acquire()
assert settings.redis is not None
lease = redis_leadership(settings.redis, connect(settings.redis), Keys(settings.namespace), "dead-node",
                          on_lease=lock.record_lease)
while not lease.leading:
    lease.tick()
    time.sleep(0.05)
print("leading", flush=True)
time.sleep(600)
"""


@pytest.fixture
def settings(tmp_path: Path, redis_server: RedisServer) -> Settings:
    (tmp_path / "run").mkdir(mode=0o700)
    return Settings.from_env(
        {
            "SCHEDULER_REDIS_URL": redis_server.url,
            "SCHEDULER_NAMESPACE": "takeover",
            "SCHEDULER_LOCK_DIR": str(tmp_path / "run"),
            "SCHEDULER_LEASE_TTL": "30",  # long: a lease that went early was released, not expired
        }
    )


@pytest.fixture
def dead_leader(settings: Settings) -> Iterator[str]:
    """A runner that took the host lock and the lease, killed with -9; yields the token it held."""
    env = {**os.environ, **_environment(settings), "PYTHONPATH": str(ROOT)}
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


def _environment(settings: Settings) -> dict[str, str]:
    assert settings.redis is not None
    return {
        "SCHEDULER_REDIS_URL": str(settings.redis.url),
        "SCHEDULER_NAMESPACE": settings.namespace,
        "SCHEDULER_LOCK_DIR": str(settings.lock_dir),
        "SCHEDULER_LEASE_TTL": "30",
    }


def _leader_key(settings: Settings) -> str | None:
    assert settings.redis is not None
    client = connect(settings.redis)
    try:
        value = client.get(Keys(settings.namespace).leader)
    finally:
        client.close()
    return value.decode() if isinstance(value, bytes) else value


def test_the_lease_of_a_runner_killed_with_9_is_released_and_another_node_leads_at_once(
    settings: Settings, dead_leader: str
) -> None:
    assert _leader_key(settings) == dead_leader
    takeover.release_abandoned(settings)
    assert _leader_key(settings) is None
    assert settings.redis is not None
    successor = redis_leadership(settings.redis, connect(settings.redis), Keys(settings.namespace), "next-node")
    successor.tick()
    term = successor.current_term()
    assert successor.leading and term is not None
    successor.release()


def test_nothing_is_released_while_a_live_process_holds_the_host_lock(settings: Settings, dead_leader: str) -> None:
    alive = HostLock(settings.lock_path, "live-node")
    assert alive.try_acquire()
    try:
        takeover.release_abandoned(settings)
        assert _leader_key(settings) == dead_leader
    finally:
        alive.release()


def test_a_lease_another_node_took_meanwhile_is_left_alone(settings: Settings, dead_leader: str) -> None:
    """Release compares the token: a stale record cannot end a newer term."""
    assert settings.redis is not None
    client = connect(settings.redis)
    client.delete(Keys(settings.namespace).leader)  # the dead lease expired ...
    successor = redis_leadership(settings.redis, client, Keys(settings.namespace), "next-node")
    successor.tick()  # ... and another node leads
    assert successor.leading
    takeover.release_abandoned(settings)
    assert _leader_key(settings) not in (None, dead_leader) and successor.leading
    successor.release()
    client.close()


def test_a_redis_that_does_not_answer_is_logged_not_raised(
    settings: Settings, dead_leader: str, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    redis_server.kill()
    takeover.release_abandoned(settings)
    assert "could not release its lease" in caplog.text


def test_single_host_mode_has_no_lease_to_release(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir(mode=0o700)
    takeover.release_abandoned(Settings.from_env({"SCHEDULER_LOCK_DIR": str(tmp_path / "run")}))
