"""The command bus of cluster mode (scheduler_proc/coordination/redis/bus.py) on a real redis-server:
a stream read after the cursor the last leader moved, a hint that makes the leader read at once,
answers by command id."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from redis_support import RedisServer
from support import wait_for

from scheduler_proc.coordination.records import Command
from scheduler_proc.coordination.redis.bus import RedisBus
from scheduler_proc.coordination.redis.conn import connect
from scheduler_proc.coordination.redis.keys import Keys
from scheduler_proc.settings import Settings


@pytest.fixture
def buses(redis_server: RedisServer) -> Iterator[tuple[RedisBus, RedisBus]]:
    """An operator's bus and a leader's, on one namespace."""
    settings = Settings.from_env({"SCHEDULER_REDIS_URL": redis_server.url}).redis
    assert settings is not None
    clients = [connect(settings), connect(settings)]
    yield RedisBus(settings, clients[0], Keys("bus")), RedisBus(settings, clients[1], Keys("bus"))
    for client in clients:
        client.close()


def test_a_command_reaches_the_leader_once_and_its_answer_the_operator(buses: tuple[RedisBus, RedisBus]) -> None:
    operator, leader = buses
    assert leader.due(), "a new leader reads at once"
    assert leader.receive() == []
    command = Command.new("pause", "nightly")
    assert not leader.due(), "nothing new: the leader reads only now and then"
    operator.submit(command)
    wait_for(leader.due, 5, "the hint to make the leader read now")
    [received] = leader.receive()
    assert received == command and received.cursor
    answer = threading.Timer(0.1, leader.ack, (received, {"ok": True, "job_id": "nightly", "paused": True}))
    answer.start()
    assert operator.wait_ack(command, 5) == {"ok": True, "job_id": "nightly", "paused": True}
    answer.join()
    assert leader.receive() == [], "the cursor moved past it"


def test_a_new_leader_finds_commands_its_predecessor_did_not_carry_out(
    buses: tuple[RedisBus, RedisBus], redis_server: RedisServer
) -> None:
    operator, leader = buses
    done, pending = Command.new("pause", "a"), Command.new("run", "b")
    operator.submit(done)
    operator.submit(pending)
    first = leader.receive()
    leader.ack(first[0], {"ok": True})  # then the leader dies before the second
    settings = Settings.from_env({"SCHEDULER_REDIS_URL": redis_server.url}).redis
    assert settings is not None
    successor = RedisBus(settings, connect(settings), Keys("bus"))
    assert [c.id for c in successor.receive()] == [pending.id]


def test_an_unanswered_command_times_out_with_none(buses: tuple[RedisBus, RedisBus]) -> None:
    operator, _ = buses
    assert operator.wait_ack(Command.new("run", "x"), 0.2) is None
