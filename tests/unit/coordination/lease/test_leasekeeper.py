"""Acquiring, renewing and giving up one node's lease (scheduler_proc/coordination/lease/leasekeeper.py)
against the real Redis fixture (one store's calls stand for any), ticked on a fake monotonic clock: a
standby sleeps until the lease would run out, a lease not renewed in time is given up by the node's own
clock, a hung dispatch loop gives it back at once."""

from __future__ import annotations

from pathlib import Path

from redis_support import RedisServer
from support import FakeClock

from scheduler_proc import clock
from scheduler_proc.coordination.lease.clockwatch import ClockWatch
from scheduler_proc.coordination.lease.health import StoreHealth
from scheduler_proc.coordination.lease.leasekeeper import LeaseKeeper
from scheduler_proc.coordination.local.nodestate import TermMemory
from scheduler_proc.coordination.redis.conn import connect
from scheduler_proc.coordination.redis.keys import Keys
from scheduler_proc.coordination.redis.leasecalls import REDIS, RedisLeaseCalls
from scheduler_proc.runner.metrics import Metrics
from scheduler_proc.settings import Settings

TTL = 8.0


def _keeper(redis_server: RedisServer, node: str, tick: FakeClock, healthy: list[bool], tmp: Path) -> LeaseKeeper:
    settings = Settings.from_env({"SCHEDULER_REDIS_URL": redis_server.url, "SCHEDULER_LEASE_TTL": f"{TTL:g}"}).redis
    assert settings is not None
    metrics = Metrics(node)
    watch = ClockWatch(settings, "Redis", metrics, tick, clock.wall)
    calls = RedisLeaseCalls(settings, connect(settings), Keys("keeper"), watch)
    memory = TermMemory(tmp / f"{node}.terms.json")
    return LeaseKeeper(
        settings, node, calls, (watch, StoreHealth(settings, REDIS), metrics), memory, lambda: healthy[0]
    )


def test_a_leader_renews_and_a_standby_sleeps_until_the_lease_would_run_out(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    now = FakeClock()
    leader = _keeper(redis_server, "web-1", now, [True], tmp_path)
    standby = _keeper(redis_server, "web-2", now, [True], tmp_path)
    leader.tick(now.now)
    assert leader.state.valid(now.now) and leader.leader_node == "web-1"
    standby.tick(now.now)
    assert not standby.state.valid(now.now) and standby.leader_node == "web-1"
    assert standby.next_action > now.now + TTL - 1, "it sleeps until the lease would run out"
    now.now += leader.renew_every
    leader.tick(now.now)
    assert leader.state.valid(now.now + TTL - TTL / 4 - 0.01), "renewed from this tick"


def test_a_lease_not_renewed_in_time_is_given_up_by_the_nodes_own_clock(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    now = FakeClock()
    leader = _keeper(redis_server, "web-1", now, [True], tmp_path)
    leader.tick(now.now)
    term = leader.state.fencing_token
    redis_server.kill()  # no renewal can reach Redis any more
    now.now += TTL - TTL / 4  # the trust runs out before Redis could give the lease to another
    leader.tick(now.now)
    assert not leader.state.valid(now.now) and leader.state.fencing_token is None and term is not None


def test_a_hung_dispatch_loop_gives_the_lease_back_at_once(redis_server: RedisServer, tmp_path: Path) -> None:
    now, healthy = FakeClock(), [True]
    leader = _keeper(redis_server, "web-1", now, healthy, tmp_path)
    other = _keeper(redis_server, "web-2", now, [True], tmp_path)
    leader.tick(now.now)
    healthy[0] = False
    now.now += leader.renew_every
    leader.tick(now.now)
    assert leader.state.lease_token is None
    other.tick(now.now + other.poll_every)
    assert other.state.valid(now.now + other.poll_every), "the other node leads without waiting for a TTL"
