"""Typed, frozen settings built once from ``SCHEDULER_*`` environment variables."""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from scheduler_proc.errors import SettingsError
from scheduler_proc.redact import redact, remember

PREFIX = "SCHEDULER_"
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_NODE_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_JOBS_REF_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")

#: Every variable the kit reads, with a one-line description (README and warnings use it).
KNOWN_VARIABLES: dict[str, str] = {
    "SCHEDULER_ENABLED": "run the scheduler side at all (default true)",
    "SCHEDULER_JOBS": "package.module:attribute of the Jobs object (default app.jobs:jobs)",
    "SCHEDULER_NODE_ID": "name of this host in logs, status and the lock file (default: hostname)",
    "SCHEDULER_NAMESPACE": "prefix of the lock file, state files and Redis keys (default scheduler)",
    "SCHEDULER_LOCK_DIR": "directory of the host lock (default $RUNTIME_DIRECTORY, else a per-user runtime dir)",
    "SCHEDULER_STATE_DIR": "directory of the local fire ledger (default $STATE_DIRECTORY, else ~/.local/state)",
    "SCHEDULER_STOP_GRACE": "seconds a running job may finish after a stop (default: gunicorn's graceful_timeout)",
    "SCHEDULER_MISFIRE_GRACE": "default seconds a late or missed fire may still run (default 30)",
    "SCHEDULER_START_TIMEOUT": "seconds gunicorn waits for the jobs module to load (default 30)",
    "SCHEDULER_MAX_WORKERS": "threads that run jobs concurrently (default 10)",
    "SCHEDULER_RESTART_BACKOFF_MAX": "longest pause between restarts of a crashing scheduler (default 30)",
    "SCHEDULER_CLAIM_RETENTION": "seconds a claimed fire is remembered for dedupe (default 172800, 2 days)",
    "SCHEDULER_LOG_LEVEL": "DEBUG, INFO, WARNING or ERROR (default INFO)",
    "SCHEDULER_LOG_FORMAT": "plain (default) or json, for the scheduler processes' log lines",
    "SCHEDULER_HISTORY_SIZE": "runs kept per job in the history (default 100)",
    "SCHEDULER_READY_FILE": "no fire until this file exists: the web side answers (the systemd unit sets it)",
    "SCHEDULER_WATCHDOG_TIMEOUT": "seconds the dispatch loop may hang before its runner is replaced (default 5)",
    "SCHEDULER_ADMIN_TOKEN": "bearer token for the admin endpoints (run, pause, resume); unset disables them",
    "SCHEDULER_READ_TOKEN": "bearer token for the read endpoints, the page's data and /metrics (default unset: open)",
    "SCHEDULER_REDIS_URL": "redis://, rediss:// or unix:// URL; setting it (or sentinels) turns cluster mode on",
    "SCHEDULER_REDIS_USERNAME": "Redis ACL user (overrides the URL's)",
    "SCHEDULER_REDIS_PASSWORD": "Redis password (overrides the URL's; never logged)",
    "SCHEDULER_REDIS_TLS_CA_FILE": "CA bundle that signs the Redis server certificate (rediss://)",
    "SCHEDULER_REDIS_TLS_CERT_FILE": "client certificate for Redis TLS (mutual TLS)",
    "SCHEDULER_REDIS_TLS_KEY_FILE": "client key for Redis TLS (mutual TLS)",
    "SCHEDULER_REDIS_CLUSTER": "true when SCHEDULER_REDIS_URL names a node of a Redis Cluster (default false)",
    "SCHEDULER_REDIS_SENTINELS": "host:port,host:port of Redis Sentinels (instead of a URL's host)",
    "SCHEDULER_REDIS_SENTINEL_MASTER": "name of the master the Sentinels watch",
    "SCHEDULER_REDIS_SENTINEL_PASSWORD": "password of the Sentinels themselves, if they have one",
    "SCHEDULER_REDIS_SENTINEL_TLS": "true when the Sentinels speak TLS (with the TLS CA/cert/key settings)",
    "SCHEDULER_REDIS_MIN_REPLICAS": "replicas that must acknowledge a claim (WAIT) before the fire runs (default 0)",
    "SCHEDULER_REDIS_WAIT_TIMEOUT": "seconds to wait for those replicas (default 0.1)",
    "SCHEDULER_LEASE_TTL": "seconds the cluster leader lease lives without renewal (default 10)",
    "SCHEDULER_TEST_CLOCK_OFFSET": "testing only: shift the scheduler's wall clock by this many seconds (default 0)",
    "SCHEDULER_MAX_CLOCK_OFFSET": "seconds this host's clock may be off Redis's before it refuses to lead (default 1)",
}

_REDIS_SCHEMES = ("redis", "rediss", "unix")
_CLUSTER_SWITCHES = ("SCHEDULER_REDIS_URL", "SCHEDULER_REDIS_SENTINELS")
_CLUSTER_TUNING = ("SCHEDULER_LEASE_TTL", "SCHEDULER_MAX_CLOCK_OFFSET")

T = TypeVar("T")


@dataclass(frozen=True)
class RedisSettings:
    """How to reach Redis in cluster mode. ``password`` never appears in logs or errors."""

    url: str | None = dataclasses.field(repr=False)  # may hold a password
    username: str | None
    password: str | None = dataclasses.field(repr=False)
    tls_ca_file: Path | None
    tls_cert_file: Path | None
    tls_key_file: Path | None
    sentinels: tuple[tuple[str, int], ...]
    sentinel_master: str | None
    sentinel_password: str | None = dataclasses.field(repr=False)
    min_replicas: int
    wait_timeout: float
    lease_ttl: float
    max_clock_offset: float = 1.0
    cluster: bool = False  # the URL names a node of a Redis Cluster
    sentinel_tls: bool = False  # the Sentinels themselves speak TLS

    @property
    def socket_timeout(self) -> float:
        """Seconds a Redis call may take: short enough that a hung call cannot outlive the lease."""
        return socket_timeout_for(self.lease_ttl)

    @property
    def target(self) -> str:
        """Where Redis is, for logs and errors, with any password masked."""
        if self.sentinels:
            hosts = ",".join(f"{host}:{port}" for host, port in self.sentinels)
            return f"sentinel master {self.sentinel_master!r} via {hosts}"
        return redact_url(self.url or "")


def socket_timeout_for(lease_ttl: float) -> float:
    """The Redis socket timeout for a lease TTL: a quarter of it, from 0.1 s to 1 s."""
    return max(0.1, min(1.0, lease_ttl / 4))


def redact_url(url: str) -> str:
    """The URL with any password in it replaced by *** (see :mod:`scheduler_proc.redact`)."""
    return redact(url)


@dataclass(frozen=True)
class Settings:
    """Everything the scheduler side is configured with; build it with :meth:`from_env`."""

    enabled: bool
    jobs_ref: str
    node_id: str
    namespace: str
    lock_dir: Path
    state_dir: Path
    stop_grace: float | None
    misfire_grace: float
    start_timeout: float
    max_workers: int
    restart_backoff_max: float
    claim_retention: float
    log_level: str
    log_format: str = "plain"
    history_size: int = 100
    watchdog_timeout: float = 5.0
    ready_file: Path | None = None  # when set, nothing is dispatched until it exists
    admin_token: str | None = dataclasses.field(default=None, repr=False)
    read_token: str | None = dataclasses.field(default=None, repr=False)
    redis: RedisSettings | None = None
    test_clock_offset: float = 0.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Parse and validate; raise one :class:`SettingsError` listing every bad variable."""
        env = os.environ if environ is None else environ
        remember(_secret_values(env))  # before any message is built: none may show them
        reader = _Reader(env)
        settings = cls(
            enabled=reader.get("SCHEDULER_ENABLED", _parse_bool, True),
            jobs_ref=reader.get("SCHEDULER_JOBS", _parse_jobs_ref, "app.jobs:jobs"),
            node_id=reader.get("SCHEDULER_NODE_ID", _parse_node, socket.gethostname()),
            namespace=reader.get("SCHEDULER_NAMESPACE", _parse_name, "scheduler"),
            lock_dir=reader.get("SCHEDULER_LOCK_DIR", _parse_path, default_lock_dir(env)),
            state_dir=reader.get("SCHEDULER_STATE_DIR", _parse_path, default_state_dir(env)),
            stop_grace=reader.get("SCHEDULER_STOP_GRACE", _seconds(0, 86400), None),
            misfire_grace=reader.get("SCHEDULER_MISFIRE_GRACE", _seconds(1, 86400), 30.0),
            start_timeout=reader.get("SCHEDULER_START_TIMEOUT", _seconds(1, 3600), 30.0),
            max_workers=reader.get("SCHEDULER_MAX_WORKERS", _integer(1, 1000), 10),
            restart_backoff_max=reader.get("SCHEDULER_RESTART_BACKOFF_MAX", _seconds(1, 3600), 30.0),
            claim_retention=reader.get("SCHEDULER_CLAIM_RETENTION", _seconds(60, 366 * 86400), 172800.0),
            log_level=reader.get("SCHEDULER_LOG_LEVEL", _parse_log_level, "INFO"),
            log_format=reader.get("SCHEDULER_LOG_FORMAT", _parse_log_format, "plain"),
            history_size=reader.get("SCHEDULER_HISTORY_SIZE", _integer(1, 100000), 100),
            watchdog_timeout=reader.get("SCHEDULER_WATCHDOG_TIMEOUT", _seconds(1, 3600), 5.0),
            ready_file=reader.get("SCHEDULER_READY_FILE", _parse_path, None),
            admin_token=reader.get("SCHEDULER_ADMIN_TOKEN", _parse_token, None, shown=lambda raw: "'***'"),
            read_token=reader.get("SCHEDULER_READ_TOKEN", _parse_token, None, shown=lambda raw: "'***'"),
            test_clock_offset=reader.get("SCHEDULER_TEST_CLOCK_OFFSET", _seconds(-86400, 86400), 0.0),
            redis=_redis_settings(reader),
        )
        reader.raise_if_bad()
        if settings.redis is not None and "SCHEDULER_MISFIRE_GRACE" not in env:
            # Long enough that a kill -9 failover (lease TTL + takeover) loses no fire.
            settings = dataclasses.replace(settings, misfire_grace=max(30.0, 2 * settings.redis.lease_ttl + 5))
        return settings

    @property
    def cluster(self) -> bool:
        """True when Redis coordinates several hosts."""
        return self.redis is not None

    @property
    def lock_path(self) -> Path:
        """The host lock file: one scheduler per host and namespace holds it."""
        return self.lock_dir / f"{self.namespace}.lock"

    @property
    def ledger_path(self) -> Path:
        """The SQLite file that remembers claimed fires in single-host mode."""
        return self.state_dir / f"{self.namespace}.sqlite3"

    @property
    def terms_path(self) -> Path:
        """The highest leadership term this node has seen (cluster mode), so fencing tokens never repeat."""
        return self.state_dir / f"{self.namespace}.terms.json"

    def metrics_path(self, master_pid: int) -> Path:
        """Where that scheduler publishes its Prometheus metrics."""
        return self.lock_dir / f"{self.namespace}.{master_pid}.metrics.prom"

    def status_path(self, master_pid: int) -> Path:
        """Where the scheduler started by gunicorn master ``master_pid`` publishes its state."""
        return self.lock_dir / f"{self.namespace}.{master_pid}.status.json"


_SECRET_VARIABLES = (
    "SCHEDULER_REDIS_PASSWORD",
    "SCHEDULER_REDIS_SENTINEL_PASSWORD",
    "SCHEDULER_ADMIN_TOKEN",
    "SCHEDULER_READ_TOKEN",
)
_URL_PASSWORD = re.compile(r"//[^/@\s]*:([^@\s/]+)@|[?&]password=([^&\s]+)", re.I)


def _secret_values(env: Mapping[str, str]) -> list[str]:
    """Every secret the environment holds, including a password inside SCHEDULER_REDIS_URL."""
    values = [env.get(name, "").strip() for name in _SECRET_VARIABLES]
    for match in _URL_PASSWORD.finditer(env.get("SCHEDULER_REDIS_URL", "")):
        values += [value for value in match.groups() if value]
    return values


def unknown_variable_warnings(environ: Mapping[str, str] | None = None) -> list[str]:
    """One warning per unknown ``SCHEDULER_*`` variable, with a did-you-mean when one is close."""
    env = os.environ if environ is None else environ
    warnings = []
    for name in sorted(env):
        if not name.startswith(PREFIX) or name in KNOWN_VARIABLES:
            continue
        close = difflib.get_close_matches(name, KNOWN_VARIABLES, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else f"; known variables: {', '.join(KNOWN_VARIABLES)}"
        warnings.append(f"unknown setting {name} is ignored{hint}")
    return warnings


def default_lock_dir(env: Mapping[str, str]) -> Path:
    """systemd's RuntimeDirectory, else a per-user runtime directory, else a per-uid one in /tmp."""
    runtime = env.get("RUNTIME_DIRECTORY", "").split(":")[0]
    if runtime:
        return Path(runtime)
    xdg = env.get("XDG_RUNTIME_DIR", "")
    if xdg:
        return Path(xdg) / "scheduler_proc"
    return Path("/tmp") / f"scheduler_proc-{os.getuid()}"


def default_state_dir(env: Mapping[str, str]) -> Path:
    """systemd's StateDirectory, else the XDG state home of the user."""
    state = env.get("STATE_DIRECTORY", "").split(":")[0]
    if state:
        return Path(state)
    xdg = env.get("XDG_STATE_HOME", "")
    base = Path(xdg) if xdg else Path(env.get("HOME", "/nonexistent")) / ".local" / "state"
    return base / "scheduler_proc"


class _Reader:
    """Reads variables, remembering every problem so they are reported together."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self._problems: list[str] = []

    def get(self, name: str, parse: Callable[[str], T], default: T, shown: Callable[[str], str] = repr) -> T:
        assert name in KNOWN_VARIABLES, name
        raw = self._env.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            return parse(raw.strip())
        except ValueError as exc:
            self._problems.append(f"{name}={shown(raw)} is invalid: {exc}")
            return default

    def has(self, name: str) -> bool:
        return bool(self._env.get(name, "").strip())

    def problem(self, message: str) -> None:
        self._problems.append(message)

    def raise_if_bad(self) -> None:
        if self._problems:
            raise SettingsError("; ".join(self._problems))


def _parse_bool(raw: str) -> bool:
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ValueError("use true or false")


def _parse_jobs_ref(raw: str) -> str:
    if not _JOBS_REF_RE.match(raw):
        raise ValueError("use package.module:attribute, for example app.jobs:jobs")
    return raw


def _parse_node(raw: str) -> str:
    if not _NODE_RE.match(raw):
        raise ValueError("use 1-128 letters, digits, '.', '_', ':' or '-'")
    return raw


def _parse_name(raw: str) -> str:
    if not _NAME_RE.match(raw):
        raise ValueError("use 1-64 letters, digits, '.', '_' or '-'")
    return raw


def _parse_path(raw: str) -> Path:
    path = Path(raw)
    if not path.is_absolute():
        raise ValueError("use an absolute path")
    return path


def _parse_log_format(raw: str) -> str:
    if raw.lower() not in ("plain", "json"):
        raise ValueError("use plain or json")
    return raw.lower()


def _parse_token(raw: str) -> str:
    if len(raw) < 16:
        raise ValueError("use at least 16 characters, for example the output of `openssl rand -hex 32`")
    return raw


def _parse_log_level(raw: str) -> str:
    if raw.upper() not in _LOG_LEVELS:
        raise ValueError(f"use one of {', '.join(_LOG_LEVELS)}")
    return raw.upper()


def _seconds(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"use a number of seconds from {low:g} to {high:g}") from None
        if not math.isfinite(value) or not low <= value <= high:
            raise ValueError(f"use a number of seconds from {low:g} to {high:g}")
        return value

    return parse


def _integer(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"use a whole number from {low} to {high}") from None
        if not low <= value <= high:
            raise ValueError(f"use a whole number from {low} to {high}")
        return value

    return parse


def _redis_settings(reader: _Reader) -> RedisSettings | None:
    url = reader.get("SCHEDULER_REDIS_URL", _parse_redis_url, None, shown=lambda raw: repr(redact_url(raw)))
    no_sentinels: tuple[tuple[str, int], ...] = ()
    sentinels = reader.get("SCHEDULER_REDIS_SENTINELS", _parse_sentinels, no_sentinels)
    master = reader.get("SCHEDULER_REDIS_SENTINEL_MASTER", _parse_name, None)
    if not url and not sentinels:
        for name in KNOWN_VARIABLES:
            cluster_only = name.startswith("SCHEDULER_REDIS_") or name in _CLUSTER_TUNING
            if cluster_only and reader.has(name) and name not in _CLUSTER_SWITCHES:
                reader.problem(
                    f"{name} is set but cluster mode is off; set SCHEDULER_REDIS_URL "
                    "or SCHEDULER_REDIS_SENTINELS, or remove it"
                )
        return None
    if sentinels and not master:
        reader.problem(
            "SCHEDULER_REDIS_SENTINELS is set without SCHEDULER_REDIS_SENTINEL_MASTER; "
            "name the master the Sentinels watch (for example mymaster)"
        )
    settings = RedisSettings(
        url=url,
        username=reader.get("SCHEDULER_REDIS_USERNAME", str, None),
        password=reader.get("SCHEDULER_REDIS_PASSWORD", str, None, shown=lambda raw: "'***'"),  # secret
        tls_ca_file=reader.get("SCHEDULER_REDIS_TLS_CA_FILE", _parse_readable_file, None),
        tls_cert_file=reader.get("SCHEDULER_REDIS_TLS_CERT_FILE", _parse_readable_file, None),
        tls_key_file=reader.get("SCHEDULER_REDIS_TLS_KEY_FILE", _parse_readable_file, None),
        sentinels=sentinels,
        sentinel_master=master,
        sentinel_password=reader.get("SCHEDULER_REDIS_SENTINEL_PASSWORD", str, None, shown=lambda raw: "'***'"),
        min_replicas=reader.get("SCHEDULER_REDIS_MIN_REPLICAS", _integer(0, 100), 0),
        wait_timeout=reader.get("SCHEDULER_REDIS_WAIT_TIMEOUT", _seconds(0.001, 10), 0.1),
        lease_ttl=reader.get("SCHEDULER_LEASE_TTL", _seconds(0.5, 300), 10.0),
        max_clock_offset=reader.get("SCHEDULER_MAX_CLOCK_OFFSET", _seconds(0.05, 60), 1.0),
        cluster=reader.get("SCHEDULER_REDIS_CLUSTER", _parse_bool, False),
        sentinel_tls=reader.get("SCHEDULER_REDIS_SENTINEL_TLS", _parse_bool, False),
    )
    if settings.cluster and (sentinels or not url or urlsplit(url).scheme == "unix"):
        reader.problem(
            "SCHEDULER_REDIS_CLUSTER=true needs SCHEDULER_REDIS_URL naming one node of the cluster "
            "(redis://host:port or rediss://); Sentinels and unix sockets do not apply to a Redis Cluster"
        )
    if settings.min_replicas and settings.wait_timeout > settings.socket_timeout / 2:
        # WAIT blocks the claims' reply: past the socket timeout the claims would have run
        # while the caller saw only a timeout.
        reader.problem(
            f"SCHEDULER_REDIS_WAIT_TIMEOUT={settings.wait_timeout:g} is too long for SCHEDULER_LEASE_TTL="
            f"{settings.lease_ttl:g}: a claim's reply must arrive within the Redis socket timeout "
            f"({settings.socket_timeout:g}s, a quarter of the TTL up to 1s); use at most "
            f"{settings.socket_timeout / 2:g} or raise the lease TTL"
        )
    return settings


def _parse_redis_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in _REDIS_SCHEMES or not raw.startswith(f"{parts.scheme}://"):
        shown = f"{parts.scheme}://" if parts.scheme and raw.startswith(f"{parts.scheme}://") else "(none)"
        raise ValueError(
            f"scheme {shown} is not supported; use redis://host:6379/0, rediss:// for TLS or "
            "unix:///path/redis.sock (for Sentinel use SCHEDULER_REDIS_SENTINELS)"
        )
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError("the URL has no socket path; use unix:///run/redis/redis.sock")
        return raw
    if not parts.hostname:
        raise ValueError("the URL has no host; use redis://host:6379/0")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the port is not a number from 1 to 65535; use redis://host:6379/0") from None
    if port == 0:
        raise ValueError("the port is not a number from 1 to 65535; use redis://host:6379/0")
    return raw


def _parse_sentinels(raw: str) -> tuple[tuple[str, int], ...]:
    found = []
    for item in raw.split(","):
        host, sep, port = item.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{item.strip()!r} is not host:port; use host:26379,host:26379")
        found.append((host, int(port)))
    return tuple(found)


def _parse_readable_file(raw: str) -> Path:
    path = Path(raw)
    if not path.is_file() or not os.access(path, os.R_OK):
        raise ValueError("the file does not exist or is not readable")
    return path
