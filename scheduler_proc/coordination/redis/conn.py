"""Redis connections for cluster mode: URL or Sentinel, ACL user, TLS, and clear errors."""

from __future__ import annotations

import contextlib
import hashlib
import ssl
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

import redis
from redis.cluster import RedisCluster
from redis.sentinel import Sentinel

from scheduler_proc.errors import RedisConfigError, RedisUnavailable
from scheduler_proc.settings import RedisSettings

T = TypeVar("T")
#: A client of one Redis (URL or Sentinel) or of a Redis Cluster: the kit uses what both offer.
Client = redis.Redis | RedisCluster

#: What the kit's Redis user needs, for error messages (the README's "Redis ACL" explains it).
ACL_NEEDED = "+@read +@write +@scripting +@pubsub +@connection +info +time +wait on the namespace's keys"


def connect(settings: RedisSettings) -> Client:
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
        if settings.sentinel_tls:
            sentinel_kwargs.update(_tls_options(settings), ssl=True)
        # redis-py's Sentinel API is untyped.
        sentinel = Sentinel(list(settings.sentinels), sentinel_kwargs=sentinel_kwargs, **options)  # type: ignore[no-untyped-call]
        client: redis.Redis = sentinel.master_for(str(settings.sentinel_master), **options)  # type: ignore[no-untyped-call]
        return client
    # redis-py lets a URL's user and password win over the keyword ones; the settings say the
    # SCHEDULER_REDIS_USERNAME / _PASSWORD variables win, so take them out of the URL.
    url = without_credentials(str(settings.url), settings.username is not None, settings.password is not None)
    if settings.cluster:
        # Scripts keep to the namespace's hash slot; the cluster client follows MOVED/ASK and failovers.
        return _cluster_client(settings, url, options)
    return redis.Redis.from_url(url, **options)


def _cluster_client(settings: RedisSettings, url: str, options: dict[str, Any]) -> RedisCluster:
    """The cluster client, which asks a node for the slot map as it is made: a clear error if it cannot."""
    try:
        return RedisCluster.from_url(url, **options)
    except redis.exceptions.RedisClusterException as exc:
        if "cluster mode is not enabled" in str(exc).lower():
            raise RedisConfigError(
                f"SCHEDULER_REDIS_CLUSTER=true but Redis at {settings.target} is not a Redis Cluster node (cluster "
                "mode is not enabled on it); unset SCHEDULER_REDIS_CLUSTER for a single Redis, or point "
                "SCHEDULER_REDIS_URL at a cluster node"
            ) from None
        raise RedisUnavailable(
            f"Redis Cluster at {settings.target} cannot be reached ({_root(exc)}); check SCHEDULER_REDIS_URL"
        ) from None


def without_credentials(url: str, drop_user: bool, drop_password: bool) -> str:
    """``url`` without its user name and/or password (in the userinfo or a ``password=`` option,
    whose name redis-py reads percent-decoded: ``pass%77ord=`` is one too)."""
    parts = urlsplit(url)
    netloc, query = parts.netloc, parts.query
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user, _, password = userinfo.partition(":")
        user, password = ("" if drop_user else user), ("" if drop_password else password)
        netloc = (user + (f":{password}" if password else "") + "@" if user or password else "") + host
    dropped = ({"password"} if drop_password else set()) | ({"username"} if drop_user else set())
    options = parse_qsl(query, keep_blank_values=True)
    if any(name in dropped for name, _ in options):
        query = urlencode([(name, value) for name, value in options if name not in dropped])
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


def slot_client(client: Client, key: str) -> redis.Redis:
    """A client of the one server that holds ``key``'s slot (a Redis Cluster node), for a pipeline
    whose commands must share one connection (claims and their WAIT)."""
    if isinstance(client, RedisCluster):
        return client.get_redis_connection(client.get_node_from_key(key))  # type: ignore[no-untyped-call]
    return client


def refresh_topology(client: Client) -> None:
    """After a cluster error: learn again which node holds which slot (a failover moved them)."""
    if isinstance(client, RedisCluster):
        with contextlib.suppress(redis.RedisError):
            client.nodes_manager.initialize()


def _tls_options(settings: RedisSettings) -> dict[str, Any]:
    # The server's certificate must name the host we asked for (older redis-py did not check).
    options: dict[str, Any] = {"ssl_check_hostname": True} if _uses_tls(settings) else {}
    if settings.tls_ca_file is not None:
        options["ssl_ca_certs"] = str(settings.tls_ca_file)
    if settings.tls_cert_file is not None:
        options["ssl_certfile"] = str(settings.tls_cert_file)
    if settings.tls_key_file is not None:
        options["ssl_keyfile"] = str(settings.tls_key_file)
    if settings.sentinels and _uses_tls(settings):
        options["ssl"] = True  # Sentinel-found masters have no URL to say rediss://
    return options


def _uses_tls(settings: RedisSettings) -> bool:
    tls_url = (settings.url or "").startswith("rediss://")
    # Sentinels that speak TLS name masters that do too: AUTH and data must not go in clear.
    tls_master = settings.sentinel_tls or settings.tls_ca_file or settings.tls_cert_file
    return tls_url or bool(settings.sentinels and tls_master)


#: Redis Cluster errors that pass once the cluster settles (slots moving, a primary failing over).
_CLUSTER_MOVES = (
    redis.exceptions.MovedError,
    redis.exceptions.AskError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.ClusterError,
    redis.exceptions.MasterDownError,
    redis.exceptions.RedisClusterException,
)


def call(settings: RedisSettings, action: Callable[[], T]) -> T:
    """Run ``action``; turn redis-py's errors into RedisConfigError or RedisUnavailable."""
    try:
        return action()
    except redis.AuthenticationError as exc:
        raise RedisConfigError(
            f"Redis at {settings.target} refused the credentials ({exc}); check the user and password "
            "in SCHEDULER_REDIS_URL (or SCHEDULER_REDIS_USERNAME / SCHEDULER_REDIS_PASSWORD)"
        ) from None
    except redis.ReadOnlyError as exc:
        raise RedisConfigError(
            f"Redis at {settings.target} is a read-only replica and refuses writes ({exc}); point "
            "SCHEDULER_REDIS_URL at the primary (or name the master through Sentinel)"
        ) from None
    except redis.ResponseError as exc:
        if str(exc).startswith(("NOAUTH", "WRONGPASS", "NOPERM")):
            raise RedisConfigError(
                f"Redis at {settings.target} refused the command ({exc}); check SCHEDULER_REDIS_URL's "
                f"user and password, and that the ACL user has {ACL_NEEDED} (README: Redis ACL)"
            ) from None
        raise
    except _CLUSTER_MOVES as exc:
        raise RedisUnavailable(
            f"Redis Cluster at {settings.target} is moving or failing over ({type(exc).__name__})"
        ) from None
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

    def __init__(self, client: Client, source: str) -> None:
        self._client = client
        self._source = source
        self._sha = hashlib.sha1(source.encode()).hexdigest()

    def __call__(self, keys: list[str], args: list[Any]) -> Any:
        try:
            return self._client.evalsha(self._sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            return self._client.eval(self._source, len(keys), *keys, *args)
