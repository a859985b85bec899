"""The Redis connections the kit builds (scheduler_proc/coordination/redis/conn.py): the kit's
timeouts and TLS always apply, and what a URL may say is checked before anything connects.

No TLS redis-server fixture exists (tests/redis_support.py), so TLS is pinned by the connection
options built; redis-py connects lazily, so nothing here needs a server."""

from __future__ import annotations

import re
from typing import Any

import pytest
import redis

from scheduler_proc.coordination.redis.conn import connect
from scheduler_proc.errors import SettingsError
from scheduler_proc.settings import Settings


def _client(env: dict[str, str]) -> Any:
    settings = Settings.from_env(env)
    assert settings.redis is not None
    return connect(settings.redis)


def test_the_master_found_through_tls_sentinels_is_reached_over_tls_with_system_cas() -> None:
    client = _client(
        {
            "SCHEDULER_REDIS_SENTINELS": "127.0.0.1:26379",
            "SCHEDULER_REDIS_SENTINEL_MASTER": "mymaster",
            "SCHEDULER_REDIS_SENTINEL_TLS": "true",
        }
    )
    pool = client.connection_pool
    assert issubclass(pool.connection_class, redis.SSLConnection), pool.connection_class
    assert pool.connection_kwargs.get("ssl_check_hostname") is True
    sentinel_kwargs = pool.sentinel_manager.sentinel_kwargs
    assert sentinel_kwargs.get("ssl") is True and sentinel_kwargs.get("ssl_check_hostname") is True


def test_plain_sentinels_find_a_plain_master() -> None:
    client = _client({"SCHEDULER_REDIS_SENTINELS": "127.0.0.1:26379", "SCHEDULER_REDIS_SENTINEL_MASTER": "m"})
    assert not issubclass(client.connection_pool.connection_class, redis.SSLConnection)


@pytest.mark.parametrize(
    "query, message",
    [
        ("socket_timeout=60", r"option 'socket_timeout' is not accepted: .*SCHEDULER_LEASE_TTL.*remove it"),
        (
            "ssl_cert_reqs=none&ssl_check_hostname=false",
            r"option 'ssl_cert_reqs' is not accepted: .*TLS.*SCHEDULER_REDIS_TLS_CA_FILE.*remove it",
        ),
        ("foo=bar", r"option 'foo' is not accepted: .*use only db, username, password, ssl_password"),
        ("socket_timeout=abc", r"option 'socket_timeout' is not accepted"),
        ("db=abc", r"option db='abc' is not a whole number; use for example \?db=0 or the path /0"),
        ("db=1&db=2", r"option 'db' is given twice"),
    ],
)
def test_url_options_that_would_weaken_or_break_the_connection_are_refused(query: str, message: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"SCHEDULER_REDIS_URL": f"rediss://u:pw@127.0.0.1:6379/0?{query}"})
    text = str(error.value)
    assert re.search(r"SCHEDULER_REDIS_URL=.* is invalid: " + message, text), text
    assert "pw" not in text.replace("password", "")


def test_a_database_path_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(SettingsError, match=r"the database '/zero' is not a whole number; use for example /0"):
        Settings.from_env({"SCHEDULER_REDIS_URL": "redis://127.0.0.1:6379/zero"})


def test_the_password_variable_beats_a_password_hidden_in_the_url_query() -> None:
    client = _client(
        {"SCHEDULER_REDIS_URL": "redis://127.0.0.1:6379/0?pass%77ord=from-url", "SCHEDULER_REDIS_PASSWORD": "env-pw"}
    )
    assert client.connection_pool.connection_kwargs["password"] == "env-pw"


def test_the_kits_timeouts_and_a_db_from_the_url_apply() -> None:
    client = _client({"SCHEDULER_REDIS_URL": "redis://127.0.0.1:6379/0?db=3", "SCHEDULER_LEASE_TTL": "2"})
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["db"] == 3 and kwargs["socket_timeout"] == 0.5 and kwargs["socket_connect_timeout"] == 0.5
