"""Redis connections for cluster mode: URL or Sentinel, ACL user, TLS, and clear errors."""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from redis.sentinel import Sentinel

from scheduler_proc.errors import RedisConfigError, RedisUnavailable
from scheduler_proc.settings import RedisSettings

T = TypeVar("T")

#: What the kit's Redis user needs, for error messages (the README's "Redis ACL" explains it).
ACL_NEEDED = "+@read +@write +@scripting +@pubsub +@connection +info +time +wait on the namespace's keys"


def connect(settings: RedisSettings) -> redis.Redis:
    """A client with short timeouts, sized to the lease so a hung call cannot outlive it."""
    timeout = settings.socket_timeout
    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "health_check_interval": 0,
        "decode_responses": True,
        "retry_on_timeout": False,
    }
    if settings.username is not None:
        options["username"] = settings.username
    if settings.password is not None:
        options["password"] = settings.password
    options.update(_tls_options(settings))
    if settings.sentinels:
        sentinel_kwargs: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
        if settings.sentinel_password is not None:
            sentinel_kwargs["password"] = settings.sentinel_password
        # redis-py's Sentinel API is untyped.
        sentinel = Sentinel(list(settings.sentinels), sentinel_kwargs=sentinel_kwargs, **options)  # type: ignore[no-untyped-call]
        client: redis.Redis = sentinel.master_for(str(settings.sentinel_master), **options)  # type: ignore[no-untyped-call]
        return client
    return redis.Redis.from_url(str(settings.url), **options)


def _tls_options(settings: RedisSettings) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if settings.tls_ca_file is not None:
        options["ssl_ca_certs"] = str(settings.tls_ca_file)
    if settings.tls_cert_file is not None:
        options["ssl_certfile"] = str(settings.tls_cert_file)
    if settings.tls_key_file is not None:
        options["ssl_keyfile"] = str(settings.tls_key_file)
    if options and settings.sentinels:
        options["ssl"] = True
    return options


def call(settings: RedisSettings, action: Callable[[], T]) -> T:
    """Run ``action``; turn redis-py's errors into RedisConfigError or RedisUnavailable."""
    try:
        return action()
    except redis.AuthenticationError as exc:
        raise RedisConfigError(
            f"Redis at {settings.target} refused the credentials ({exc}); check the user and password "
            "in SCHEDULER_REDIS_URL (or SCHEDULER_REDIS_USERNAME / SCHEDULER_REDIS_PASSWORD)"
        ) from None
    except redis.ResponseError as exc:
        if str(exc).startswith(("NOAUTH", "WRONGPASS", "NOPERM")):
            raise RedisConfigError(
                f"Redis at {settings.target} refused the command ({exc}); check SCHEDULER_REDIS_URL's "
                f"user and password, and that the ACL user has {ACL_NEEDED} (README: Redis ACL)"
            ) from None
        raise
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        if _is_tls_failure(exc):
            raise RedisConfigError(
                f"TLS with Redis at {settings.target} failed ({_root(exc)}); check SCHEDULER_REDIS_TLS_CA_FILE, "
                "and use rediss:// only if the server speaks TLS"
            ) from None
        raise RedisUnavailable(f"Redis at {settings.target} is unreachable ({type(exc).__name__}: {exc})") from None


def _root(exc: BaseException) -> BaseException:
    while exc.__cause__ or exc.__context__:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return exc


def _is_tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError) or "_ssl.c" in str(seen) or "SSL" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class LuaScript:
    """A Lua script run by its SHA1, falling back to EVAL (never a separate SCRIPT LOAD).

    After a Sentinel failover a client's pool can reach two servers: a script loaded over
    one connection and run over another fails again, while EVAL carries its source along.
    """

    def __init__(self, client: redis.Redis, source: str) -> None:
        self._client = client
        self._source = source
        self._sha = hashlib.sha1(source.encode()).hexdigest()

    def __call__(self, keys: list[str], args: list[Any]) -> Any:
        try:
            return self._client.evalsha(self._sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            return self._client.eval(self._source, len(keys), *keys, *args)
