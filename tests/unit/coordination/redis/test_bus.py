"""The command bus of cluster mode on Redis (scheduler_proc/coordination/redis/bus.py) on a real
redis-server, beyond the CommandBus interface's tests (tests/integration/test_cluster_bus.py, run
on both stores): a stream entry that is no command is skipped and the cursor moves past it."""

from __future__ import annotations

from redis_support import RedisServer

from scheduler_proc.coordination.records import Command
from scheduler_proc.coordination.redis.bus import RedisBus
from scheduler_proc.coordination.redis.conn import connect
from scheduler_proc.coordination.redis.keys import Keys
from scheduler_proc.settings import Settings


def test_an_entry_that_is_no_command_is_skipped_and_the_cursor_moves_past_it(redis_server: RedisServer) -> None:
    settings = Settings.from_env({"SCHEDULER_REDIS_URL": redis_server.url}).redis
    assert settings is not None
    client, keys = connect(settings), Keys("bus")
    leader, operator = RedisBus(settings, client, keys), RedisBus(settings, client, keys)
    malformed = redis_server.client().xadd(keys.commands, {"id": "x", "action": "explode"})
    assert leader.receive() == []
    assert redis_server.client().get(keys.commands_cursor) == malformed
    command = Command.new("run", "after")
    operator.submit(command)
    assert leader.receive() == [command]
    client.close()
