"""The start-up checks of a Redis (scheduler_proc/coordination/redis/checks.py) on a real
redis-server: one that may evict keys is refused with the fix; a Redis that is down is no error
(the runner waits as standby)."""

from __future__ import annotations

import pytest
from redis_support import RedisServer

from scheduler_proc.coordination.redis.checks import check_server
from scheduler_proc.errors import RedisConfigError
from scheduler_proc.settings import Settings


def _settings(redis_server: RedisServer) -> Settings:
    return Settings.from_env({"SCHEDULER_REDIS_URL": redis_server.url, "SCHEDULER_NAMESPACE": "checks"})


def test_a_redis_fit_to_keep_claims_passes(redis_server: RedisServer) -> None:
    settings = _settings(redis_server)
    assert settings.redis is not None
    check_server(settings, settings.redis)


def test_a_redis_that_may_evict_keys_is_refused_with_the_fix(redis_server: RedisServer) -> None:
    redis_server.client().config_set("maxmemory-policy", "allkeys-lru")
    settings = _settings(redis_server)
    assert settings.redis is not None
    with pytest.raises(RedisConfigError, match=r"maxmemory-policy allkeys-lru.*set `maxmemory-policy noeviction`"):
        check_server(settings, settings.redis)


def test_a_redis_that_is_down_is_no_error_at_start(redis_server: RedisServer) -> None:
    settings = _settings(redis_server)
    assert settings.redis is not None
    redis_server.kill()
    check_server(settings, settings.redis)
