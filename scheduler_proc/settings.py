"""Typed, frozen settings built once from ``SCHEDULER_*`` environment variables, and the checks across them.

Each variable's name, parser, default and help are declared once, in :mod:`scheduler_proc.variables`;
this module reads them into :class:`Settings` and checks what no single variable can (cluster mode).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from scheduler_proc import variables as var
from scheduler_proc.errors import SettingsError
from scheduler_proc.identity import TEMPLATE_NAMESPACE
from scheduler_proc.redact import redact, remember, secrets_in
from scheduler_proc.variables import FromEnv, Setting

#: Every variable the kit reads, in the order of the docs (declared in :mod:`scheduler_proc.variables`).
KNOWN_VARIABLES = tuple(setting.name for setting in var.ALL)
_SECRET_VARIABLES = tuple(setting.name for setting in var.ALL if setting.secret)
# They turn cluster mode on; every other cluster setting is an error without them.
_CLUSTER_SWITCHES = (var.REDIS_URL, var.REDIS_SENTINELS, var.POSTGRES_URL)
#: Settings that apply to one store only: set with the other store they are an error.
_REDIS_ONLY = tuple(setting for setting in var.ALL if setting.name.startswith(var.PREFIX + "REDIS_"))
_POSTGRES_ONLY = tuple(setting for setting in var.ALL if setting.name.startswith(var.PREFIX + "POSTGRES_"))

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
    max_clock_offset: float
    cluster: bool  # the URL names a node of a Redis Cluster
    sentinel_tls: bool  # the Sentinels themselves speak TLS

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
        return redact(self.url or "")


@dataclass(frozen=True)
class PostgresSettings:
    """How to reach PostgreSQL in cluster mode. ``password`` (and one in the URL) never appears in logs or errors."""

    url: str = dataclasses.field(repr=False)  # may hold a password
    password: str | None = dataclasses.field(repr=False)
    schema: str
    lease_ttl: float
    max_clock_offset: float

    @property
    def socket_timeout(self) -> float:
        """Seconds a statement may take (and a connection attempt): a hung call cannot outlive the lease."""
        return socket_timeout_for(self.lease_ttl)

    @property
    def target(self) -> str:
        """Where PostgreSQL is, for logs and errors, with any password masked."""
        return redact(self.url)


def socket_timeout_for(lease_ttl: float) -> float:
    """The Redis socket timeout for a lease TTL: a quarter of it, from 0.1 s to 1 s."""
    return max(0.1, min(1.0, lease_ttl / 4))


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
    log_format: str
    history_size: int
    history_failures_size: int
    watchdog_timeout: float
    ready_file: Path | None  # when set, nothing is dispatched until it exists
    admin_token: str | None = dataclasses.field(repr=False)
    read_token: str | None = dataclasses.field(repr=False)
    allow_unknown: bool  # unknown SCHEDULER_* variables only warn
    redis: RedisSettings | None
    test_clock_offset: float
    postgres: PostgresSettings | None = None
    namespace_derived: bool = False  # SCHEDULER_NAMESPACE unset: derived from SCHEDULER_JOBS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Parse and validate; raise one :class:`SettingsError` listing every bad variable."""
        env = os.environ if environ is None else environ
        remember(_secret_values(env))  # before any message is built: none may show them
        reader = _Reader(env)
        settings = cls(
            enabled=reader.get(var.ENABLED),
            jobs_ref=reader.get(var.JOBS),
            node_id=reader.get(var.NODE_ID),
            namespace=reader.get(var.NAMESPACE),
            lock_dir=reader.get(var.LOCK_DIR),
            state_dir=reader.get(var.STATE_DIR),
            stop_grace=reader.get(var.STOP_GRACE),
            misfire_grace=reader.get(var.MISFIRE_GRACE),
            start_timeout=reader.get(var.START_TIMEOUT),
            max_workers=reader.get(var.MAX_WORKERS),
            restart_backoff_max=reader.get(var.RESTART_BACKOFF_MAX),
            claim_retention=reader.get(var.CLAIM_RETENTION),
            log_level=reader.get(var.LOG_LEVEL),
            log_format=reader.get(var.LOG_FORMAT),
            history_size=reader.get(var.HISTORY_SIZE),
            history_failures_size=reader.get(var.HISTORY_FAILURES_SIZE),
            watchdog_timeout=reader.get(var.WATCHDOG_TIMEOUT),
            ready_file=reader.get(var.READY_FILE),
            admin_token=reader.get(var.ADMIN_TOKEN),
            read_token=reader.get(var.READ_TOKEN),
            allow_unknown=reader.get(var.ALLOW_UNKNOWN),
            test_clock_offset=reader.get(var.TEST_CLOCK_OFFSET),
            redis=_redis_settings(reader),
            postgres=_postgres_settings(reader),
            namespace_derived=not reader.has(var.NAMESPACE.name),
        )
        _unknown_variable_problems(reader, env, settings.allow_unknown)
        reader.raise_if_bad()
        if settings.cluster and var.MISFIRE_GRACE.name not in env:
            # Long enough that a kill -9 failover (lease TTL + takeover) loses no fire.
            settings = dataclasses.replace(settings, misfire_grace=max(30.0, 2 * settings.lease_ttl + 5))
        return settings

    @property
    def cluster(self) -> bool:
        """True when Redis or PostgreSQL coordinates several hosts."""
        return self.redis is not None or self.postgres is not None

    @property
    def store(self) -> RedisSettings | PostgresSettings | None:
        """The cluster's coordination store, or None on a single host."""
        return self.redis or self.postgres

    @property
    def lease_ttl(self) -> float:
        """The leader lease's TTL in cluster mode (its default on a single host, where no lease is kept)."""
        store = self.store
        return var.LEASE_TTL.default if store is None else store.lease_ttl  # type: ignore[return-value]

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


def _secret_values(env: Mapping[str, str]) -> list[str]:
    """Every secret the environment holds, including a password inside SCHEDULER_REDIS_URL and the
    value of a misspelt secret variable (its closest known name is a token or password), which may only warn."""
    misspelt = [name for name, close in unknown_variables(env) if close in _SECRET_VARIABLES]
    values = [env.get(name, "").strip() for name in (*_SECRET_VARIABLES, *misspelt)]
    return values + secrets_in(env.get(var.REDIS_URL.name, "")) + secrets_in(env.get(var.POSTGRES_URL.name, ""))


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[tuple[str, str | None]]:
    """Each unknown ``SCHEDULER_*`` variable with the known one closest to it, if any is close."""
    env = os.environ if environ is None else environ
    return [
        (name, next(iter(difflib.get_close_matches(name, KNOWN_VARIABLES, n=1, cutoff=0.6)), None))
        for name in sorted(env)
        if name.startswith(var.PREFIX) and name not in KNOWN_VARIABLES
    ]


def _hint(close: str | None) -> str:
    return f"did you mean {close}?" if close else f"known variables: {', '.join(KNOWN_VARIABLES)}"


def unknown_variable_warnings(environ: Mapping[str, str] | None = None) -> list[str]:
    """One warning per unknown ``SCHEDULER_*`` variable (they are errors unless SCHEDULER_ALLOW_UNKNOWN is true)."""
    return [f"unknown setting {name} is ignored; {_hint(close)}" for name, close in unknown_variables(environ)]


def _unknown_variable_problems(reader: _Reader, env: Mapping[str, str], allowed: bool) -> None:
    """A misspelt setting would be ignored (a token left unset serves status to anyone): stop the start."""
    if allowed:
        return
    for name, close in unknown_variables(env):
        reader.problem(
            f"unknown setting {name}; {_hint(close)} (fix the name, or set {var.ALLOW_UNKNOWN.name}=true "
            "to only warn about variables this version does not know)"
        )


def start_warnings(settings: Settings | None, environ: Mapping[str, str] | None = None) -> list[str]:
    """What a launcher logs at WARNING when it starts: unknown variables, and replicas without a store.

    Under Kubernetes each pod is a host of its own: without Redis or PostgreSQL, every replica runs every job.
    """
    env = os.environ if environ is None else environ
    allowed = settings.allow_unknown if settings is not None else _Reader(env).get(var.ALLOW_UNKNOWN)
    warnings = unknown_variable_warnings(env) if allowed else []  # otherwise they are in the error
    if settings is not None and settings.enabled:
        warnings += _old_default_namespace_here(settings)
    if settings is not None and settings.enabled and not settings.cluster and env.get("KUBERNETES_SERVICE_HOST"):
        warnings.append(
            "this runs under Kubernetes without Redis or PostgreSQL (single-host mode): every replica of this pod "
            "runs every job; with more than one replica set SCHEDULER_REDIS_URL or SCHEDULER_POSTGRES_URL "
            "(docs/containers.md)"
        )
    return warnings


def _old_default_namespace_here(settings: Settings) -> list[str]:
    """Before 0.2 every app's namespace was ``scheduler``: an app whose namespace is now derived
    from its jobs module, upgraded in place, finds the old lock file or ledger beside the new."""
    derived = settings.namespace_derived and settings.namespace != TEMPLATE_NAMESPACE
    old = [settings.lock_dir / f"{TEMPLATE_NAMESPACE}.lock", settings.state_dir / f"{TEMPLATE_NAMESPACE}.sqlite3"]
    found = [str(path) for path in old if derived and path.exists()]
    if not found:
        return []
    return [
        f"{' and '.join(found)} (the namespace {TEMPLATE_NAMESPACE!r}, every app's default before 0.2) "
        f"beside this app's namespace {settings.namespace!r}, derived from SCHEDULER_JOBS={settings.jobs_ref!r}: "
        f"if that was this app, set SCHEDULER_NAMESPACE={TEMPLATE_NAMESPACE} to keep its ledger (pauses, "
        "history, catch-up), and never run both at once (a USR2 upgrade would)"
    ]


class _Reader:
    """Reads variables, remembering every problem so they are reported together."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self._problems: list[str] = []

    def get(self, setting: Setting[T]) -> T:
        """The parsed value, or the default when unset, blank or invalid (then the problem is noted)."""
        assert setting.name in KNOWN_VARIABLES, setting.name
        raw = self._env.get(setting.name)
        if raw is None or raw.strip() == "":
            return self._default(setting)
        try:
            return setting.parse(raw.strip())
        except ValueError as exc:
            self._problems.append(f"{setting.name}={setting.shown(raw)} is invalid: {exc}")
            return self._default(setting)

    def _default(self, setting: Setting[T]) -> T:
        if isinstance(setting.default, FromEnv):
            return setting.default.compute(self._env)
        return setting.default

    def has(self, name: str) -> bool:
        return bool(self._env.get(name, "").strip())

    def problem(self, message: str) -> None:
        self._problems.append(message)

    def raise_if_bad(self) -> None:
        if self._problems:
            raise SettingsError("; ".join(self._problems))


def _postgres_settings(reader: _Reader) -> PostgresSettings | None:
    """PostgreSQL's settings when SCHEDULER_POSTGRES_URL is set (its exclusion with Redis is checked here)."""
    url = reader.get(var.POSTGRES_URL)
    if not url:
        if not reader.has(var.POSTGRES_URL.name) and not _asked_for_redis(reader):
            for setting in _POSTGRES_ONLY:
                if reader.has(setting.name):
                    reader.problem(
                        f"{setting.name} is set but SCHEDULER_POSTGRES_URL is not; set it (cluster mode on "
                        "PostgreSQL), or remove it"
                    )
        return None
    if _asked_for_redis(reader):
        reader.problem(
            "SCHEDULER_POSTGRES_URL and the Redis settings (SCHEDULER_REDIS_URL or SCHEDULER_REDIS_SENTINELS) "
            "are both set; the cluster coordinates through one store: remove one of them"
        )
        return None
    for setting in _REDIS_ONLY:
        if reader.has(setting.name):
            reader.problem(
                f"{setting.name} is set but the cluster coordinates through PostgreSQL "
                "(SCHEDULER_POSTGRES_URL); remove it"
            )
    return PostgresSettings(
        url=url,
        password=reader.get(var.POSTGRES_PASSWORD),
        schema=reader.get(var.POSTGRES_SCHEMA),
        lease_ttl=reader.get(var.LEASE_TTL),
        max_clock_offset=reader.get(var.MAX_CLOCK_OFFSET),
    )


def _asked_for_redis(reader: _Reader) -> bool:
    return reader.has(var.REDIS_URL.name) or reader.has(var.REDIS_SENTINELS.name)


def _redis_settings(reader: _Reader) -> RedisSettings | None:
    url = reader.get(var.REDIS_URL)
    sentinels = reader.get(var.REDIS_SENTINELS)
    master = reader.get(var.REDIS_SENTINEL_MASTER)
    if not url and not sentinels:
        if _asked_for_redis(reader) or reader.has(var.POSTGRES_URL.name):
            return None  # cluster mode was asked for; its invalid value is the one problem to report
        for setting in var.ALL:
            if (
                setting.cluster
                and setting not in _CLUSTER_SWITCHES
                and setting not in _POSTGRES_ONLY
                and reader.has(setting.name)
            ):
                reader.problem(
                    f"{setting.name} is set but cluster mode is off; set SCHEDULER_REDIS_URL, "
                    "SCHEDULER_REDIS_SENTINELS or SCHEDULER_POSTGRES_URL, or remove it"
                )
        return None
    if sentinels and not master:
        reader.problem(
            "SCHEDULER_REDIS_SENTINELS is set without SCHEDULER_REDIS_SENTINEL_MASTER; "
            "name the master the Sentinels watch (for example mymaster)"
        )
    settings = RedisSettings(
        url=url,
        username=reader.get(var.REDIS_USERNAME),
        password=reader.get(var.REDIS_PASSWORD),
        tls_ca_file=reader.get(var.REDIS_TLS_CA_FILE),
        tls_cert_file=reader.get(var.REDIS_TLS_CERT_FILE),
        tls_key_file=reader.get(var.REDIS_TLS_KEY_FILE),
        sentinels=sentinels,
        sentinel_master=master,
        sentinel_password=reader.get(var.REDIS_SENTINEL_PASSWORD),
        min_replicas=reader.get(var.REDIS_MIN_REPLICAS),
        wait_timeout=reader.get(var.REDIS_WAIT_TIMEOUT),
        lease_ttl=reader.get(var.LEASE_TTL),
        max_clock_offset=reader.get(var.MAX_CLOCK_OFFSET),
        cluster=reader.get(var.REDIS_CLUSTER),
        sentinel_tls=reader.get(var.REDIS_SENTINEL_TLS),
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
