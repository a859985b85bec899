"""Pub/sub hints (scheduler_proc/coordination/redis/hints.py) on a real redis-server: a standby's
wait ends when a lease is handed over, and the leader hears that commands wait; both fall back to
'look anyway' when they cannot tell."""

from __future__ import annotations

import threading
import time

from redis_support import RedisServer

from scheduler_proc.coordination.redis.conn import connect
from scheduler_proc.coordination.redis.hints import HandoverNotices, Hints
from scheduler_proc.settings import Settings


def _client(redis_server: RedisServer):  # type: ignore[no-untyped-def]
    settings = Settings.from_env({"SCHEDULER_REDIS_URL": redis_server.url}).redis
    assert settings is not None
    return connect(settings)


def test_a_handover_notice_ends_a_standbys_wait_at_once(redis_server: RedisServer) -> None:
    notices = HandoverNotices(_client(redis_server), "{h}:handover")
    assert not notices.wait(0.1), "nothing sent: the wait times out (and subscribes)"
    publisher = redis_server.client()
    threading.Timer(0.2, publisher.publish, ("{h}:handover", "released")).start()
    started = time.monotonic()
    assert notices.wait(10) and time.monotonic() - started < 5
    notices.close()


def test_the_leader_hears_a_hint_once_and_looks_anyway_when_it_cannot_tell(redis_server: RedisServer) -> None:
    hints = Hints(_client(redis_server), "{h}:commands")
    assert hints.heard(), "just subscribed: hints sent before were not heard, so look"
    assert not hints.heard()
    redis_server.client().publish("{h}:commands", "c1")
    deadline = time.monotonic() + 5
    while not hints.heard():
        assert time.monotonic() < deadline, "the hint never arrived"
    assert not hints.heard()
    redis_server.kill()
    assert hints.heard(), "a broken subscription cannot tell: look"
    hints.close()
