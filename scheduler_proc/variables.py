"""Every ``SCHEDULER_*`` environment variable, declared once: its parser, default and help.

:mod:`scheduler_proc.settings` reads the variables through these declarations, and
``scripts/settings_docs.py`` writes the tables of docs/configuration.md and ``scheduler_proc/deploy/env.in``.
Standard library only (and :mod:`scheduler_proc.redact`, which is too): ``scheduler_proc.deploy``
imports this module with the system Python, before any venv exists.
"""

from __future__ import annotations

import math
import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qsl, urlsplit

from scheduler_proc.identity import default_namespace
from scheduler_proc.redact import redact

T = TypeVar("T")
N = TypeVar("N", int, float)

PREFIX = "SCHEDULER_"
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_REDIS_SCHEMES = ("redis", "rediss", "unix")
#: The only options a SCHEDULER_REDIS_URL may carry after '?': the kit sets every other one
#: (timeouts sized to the lease, TLS verification), and redis-py would let the URL's win.
URL_OPTIONS = ("db", "username", "password", "ssl_password")
# Why a known redis-py option is refused, by the start of its name.
_TIMEOUTS_FIX = (
    "the kit sizes Redis timeouts to SCHEDULER_LEASE_TTL (a quarter of it, up to 1s) and sets retries and health "
    "checks itself; remove it from the URL"
)
_URL_OPTION_FIXES = {
    "ssl": "TLS verification is always on; give the CA with SCHEDULER_REDIS_TLS_CA_FILE, a client certificate "
    "with SCHEDULER_REDIS_TLS_CERT_FILE and _KEY_FILE, and remove it from the URL",
    "socket": _TIMEOUTS_FIX,
    "timeout": _TIMEOUTS_FIX,
    "health_check": _TIMEOUTS_FIX,
    "retry": _TIMEOUTS_FIX,
}


@dataclass(frozen=True)
class FromEnv(Generic[T]):
    """A default that depends on the rest of the environment (systemd's directories, the host name)."""

    compute: Callable[[Mapping[str, str]], T]


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One variable: how its value is parsed, what it is when unset, and how the docs describe it.

    ``parse`` gets the stripped value and raises ``ValueError("use ...")`` saying what is valid.
    ``help`` is the README's "meaning" (markdown; the env file shows it without backticks).
    ``doc_default`` is the README's "default" where the value alone does not say it (unset,
    computed); ``example`` is what the env file shows after ``NAME=`` where the default is no value.
    """

    name: str
    parse: Callable[[str], T]
    default: T | FromEnv[T]
    help: str
    doc_default: str = ""
    example: str = ""
    cluster: bool = False  # a cluster-mode setting: set without a store it is an error, unless it names the store
    secret: bool = False  # a password or token: masked in every message and log line
    show: Callable[[str], str] = repr  # how a bad value appears in the error

    def shown(self, raw: str) -> str:
        """The value as an error message may show it."""
        return "'***'" if self.secret else self.show(raw)


def _parse_bool(raw: str) -> bool:
    """true/false, yes/no, on/off, 1/0, in any case."""
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ValueError("use true or false")


def _seconds(low: float, high: float) -> Callable[[str], float]:
    """A parser of a finite number of seconds from ``low`` to ``high``."""
    return _number(float, low, high, f"use a number of seconds from {low:g} to {high:g}")


def _integer(low: int, high: int) -> Callable[[str], int]:
    """A parser of a whole number from ``low`` to ``high``."""
    return _number(int, low, high, f"use a whole number from {low} to {high}")


# What a number the kit reads may look like: ASCII digits only. Python's int() and float()
# also take any Unicode digit ('\uff15', '\u0665') and underscores ('1_0').
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")
_DECIMAL_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def is_whole_number(raw: str) -> bool:
    """``raw`` is written as a whole number in ASCII digits (an optional sign, no underscores)."""
    return _WHOLE_NUMBER.fullmatch(raw) is not None


def _number(convert: Callable[[str], N], low: N, high: N, fix: str) -> Callable[[str], N]:
    shape = _WHOLE_NUMBER if convert is int else _DECIMAL_NUMBER

    def parse(raw: str) -> N:
        if not shape.fullmatch(raw):
            raise ValueError(fix)
        try:
            value = convert(raw)
        except ValueError:
            raise ValueError(fix) from None
        if not math.isfinite(value) or not low <= value <= high:
            raise ValueError(fix)
        return value

    return parse


def _matching(pattern: str, fix: str) -> Callable[[str], str]:
    """A parser of a value that must match ``pattern``; ``fix`` says what would be valid."""
    compiled = re.compile(pattern)

    def parse(raw: str) -> str:
        if not compiled.match(raw):
            raise ValueError(fix)
        return raw

    return parse


_parse_jobs_ref = _matching(
    r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", "use package.module:attribute, for example app.jobs:jobs"
)
_parse_node = _matching(r"^[A-Za-z0-9_.:-]{1,128}$", "use 1-128 letters, digits, '.', '_', ':' or '-'")
_parse_name = _matching(r"^[A-Za-z0-9_.-]{1,64}$", "use 1-64 letters, digits, '.', '_' or '-'")


def _parse_path(raw: str) -> Path:
    path = Path(raw)
    if not path.is_absolute():
        raise ValueError("use an absolute path")
    return path


def _parse_readable_file(raw: str) -> Path:
    path = Path(raw)
    if not path.is_file() or not os.access(path, os.R_OK):
        raise ValueError("the file does not exist or is not readable")
    return path


def _parse_log_level(raw: str) -> str:
    if raw.upper() not in _LOG_LEVELS:
        raise ValueError(f"use one of {', '.join(_LOG_LEVELS)}")
    return raw.upper()


def _parse_log_format(raw: str) -> str:
    if raw.lower() not in ("plain", "json"):
        raise ValueError("use plain or json")
    return raw.lower()


_TOKEN = re.compile(r"[!-~]{16,}")  # visible ASCII: what an Authorization header can carry as it is


def _parse_token(raw: str) -> str:
    if not _TOKEN.fullmatch(raw):
        raise ValueError(
            "use at least 16 visible ASCII characters (what an HTTP header can carry), "
            "for example the output of `openssl rand -hex 32`"
        )
    return raw


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
        _check_url_options(parts.query)
        return raw
    if not parts.hostname:
        raise ValueError(
            "the URL has no host; use redis://host:6379/0 (percent-encode a '/', '@', '?' or '#' in the password, "
            "or give it in SCHEDULER_REDIS_PASSWORD)"
        )
    if parts.path.strip("/") and not _is_whole_number(parts.path.strip("/")):
        raise ValueError(f"the database {parts.path!r} is not a whole number; use for example /0")
    _check_url_options(parts.query)
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the port is not a number from 1 to 65535; use redis://host:6379/0") from None
    if port == 0:
        raise ValueError("the port is not a number from 1 to 65535; use redis://host:6379/0")
    return raw


def _is_whole_number(raw: str) -> bool:
    return raw.isascii() and raw.isdigit()


def _check_url_options(query: str) -> None:
    """Refuse every option but :data:`URL_OPTIONS` (names percent-decoded, as redis-py reads them)."""
    seen: set[str] = set()
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name not in URL_OPTIONS:
            fix = next((f for start, f in _URL_OPTION_FIXES.items() if name.startswith(start)), "")
            raise ValueError(
                f"option {name!r} is not accepted: {fix or 'remove it from the URL'}; "
                f"use only {', '.join(URL_OPTIONS)} after '?'"
            )
        if name in seen:
            raise ValueError(f"option {name!r} is given twice; give it once")
        seen.add(name)
        if name == "db" and not _is_whole_number(value):
            raise ValueError(f"option db={value!r} is not a whole number; use for example ?db=0 or the path /0")


def _parse_sentinels(raw: str) -> tuple[tuple[str, int], ...]:
    found = []
    for item in raw.split(","):
        host, sep, port = item.strip().rpartition(":")
        if not sep or not host or not is_whole_number(port) or not 0 < int(port) < 65536:
            raise ValueError(f"{item.strip()!r} is not host:port; use host:26379,host:26379")
        found.append((host, int(port)))
    return tuple(found)


_POSTGRES_SCHEMES = ("postgresql", "postgres")
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _parse_postgres_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in _POSTGRES_SCHEMES or not raw.startswith(f"{parts.scheme}://"):
        raise ValueError("use postgresql://user@host:5432/dbname (a libpq connection URL)")
    return raw


def _parse_schema_name(raw: str) -> str:
    if not _SCHEMA_NAME.fullmatch(raw) or raw.startswith("pg_"):
        raise ValueError(
            "use a lowercase PostgreSQL name: letters, digits and _, at most 63, not starting with a digit or pg_"
        )
    return raw


def schema_for_namespace(env: Mapping[str, str]) -> str:
    """The default schema: ``scheduler_`` and the namespace, made a plain lowercase PostgreSQL name."""
    namespace = NAMESPACE.default.compute(env) if isinstance(NAMESPACE.default, FromEnv) else NAMESPACE.default
    namespace = env.get(NAMESPACE.name, "").strip() or namespace
    return ("scheduler_" + re.sub(r"[^a-z0-9_]", "_", namespace.lower()))[:63]


def _show_redacted(raw: str) -> str:
    return repr(redact(raw))


def _hostname(env: Mapping[str, str]) -> str:
    return socket.gethostname()


def _namespace_of_the_jobs(env: Mapping[str, str]) -> str:
    raw = env.get(JOBS.name, "").strip()
    try:
        return default_namespace(_parse_jobs_ref(raw) if raw else str(JOBS.default))
    except ValueError:  # SCHEDULER_JOBS itself is reported as invalid
        return default_namespace(str(JOBS.default))


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


# --- the scheduler side ----------------------------------------------------------------------------
ENABLED = Setting("SCHEDULER_ENABLED", _parse_bool, True, "run the scheduler side on this host at all")
JOBS = Setting("SCHEDULER_JOBS", _parse_jobs_ref, "app.jobs:jobs", "`package.module:attribute` of the `Jobs` object")
NODE_ID = Setting(
    "SCHEDULER_NODE_ID",
    _parse_node,
    FromEnv(_hostname),
    "this host's name in logs, status and the lock file; distinct on every host",
    doc_default="hostname",
    example="<hostname>",
)
NAMESPACE = Setting(
    "SCHEDULER_NAMESPACE",
    _parse_name,
    FromEnv(_namespace_of_the_jobs),
    "prefix of the lock, ledger and status files, of the Redis keys and of the PostgreSQL schema's default "
    "name; the same on every host of one app, different for every app on one host or one store",
    doc_default="the top-level package of `SCHEDULER_JOBS` (`shop` for `shop.jobs:jobs`); `scheduler` for the "
    "template's `app.jobs:jobs`",
    example="<package of SCHEDULER_JOBS>",
)
LOCK_DIR = Setting(
    "SCHEDULER_LOCK_DIR",
    _parse_path,
    FromEnv(default_lock_dir),
    "host lock and status files (under systemd `/run/<app>`); created 0700; refused if a symlink, "
    "not ours, not writable, or group/other-writable",
    doc_default="`$RUNTIME_DIRECTORY`, else `$XDG_RUNTIME_DIR/scheduler_proc`, else `/tmp/scheduler_proc-<uid>`",
    example="$RUNTIME_DIRECTORY",
)
STATE_DIR = Setting(
    "SCHEDULER_STATE_DIR",
    _parse_path,
    FromEnv(default_state_dir),
    "the local fire ledger and run history (SQLite) and the leadership term file (under systemd "
    "`/var/lib/<app>`); same checks",
    doc_default="`$STATE_DIRECTORY`, else `$XDG_STATE_HOME/scheduler_proc`, else `~/.local/state/scheduler_proc`",
    example="$STATE_DIRECTORY",
)
STOP_GRACE = Setting(
    "SCHEDULER_STOP_GRACE",
    _seconds(0, 86400),
    None,
    "seconds running jobs may finish after TERM/INT/QUIT or a reload",
    doc_default="gunicorn's `graceful_timeout`",
    example="<GRACEFUL_TIMEOUT>",
)
MISFIRE_GRACE = Setting(
    "SCHEDULER_MISFIRE_GRACE",
    _seconds(1, 86400),
    30.0,
    "default seconds a late or missed fire may still start; in cluster mode, unless set, "
    "max(30, 2 x `SCHEDULER_LEASE_TTL` + 5)",
)
START_TIMEOUT = Setting(
    "SCHEDULER_START_TIMEOUT", _seconds(1, 3600), 30.0, "seconds gunicorn waits for the jobs module to import"
)
MAX_WORKERS = Setting("SCHEDULER_MAX_WORKERS", _integer(1, 1000), 10, "threads that run jobs at once")
RESTART_BACKOFF_MAX = Setting(
    "SCHEDULER_RESTART_BACKOFF_MAX", _seconds(1, 3600), 30.0, "longest pause between restarts of a crashing runner"
)
CLAIM_RETENTION = Setting(
    "SCHEDULER_CLAIM_RETENTION",
    _seconds(60, 366 * 86400),
    172800.0,
    "seconds a claimed fire is remembered (dedupe window; 2 days)",
)
LOG_LEVEL = Setting("SCHEDULER_LOG_LEVEL", _parse_log_level, "INFO", "`DEBUG`, `INFO`, `WARNING` or `ERROR`")
LOG_FORMAT = Setting(
    "SCHEDULER_LOG_FORMAT",
    _parse_log_format,
    "plain",
    "`plain` or `json` (one object per line): the scheduler processes' log lines, and gunicorn's and uvicorn's "
    "under the kit's gunicorn config",
)
HISTORY_SIZE = Setting("SCHEDULER_HISTORY_SIZE", _integer(1, 100000), 100, "successful runs kept per job")
HISTORY_FAILURES_SIZE = Setting(
    "SCHEDULER_HISTORY_FAILURES_SIZE",
    _integer(1, 100000),
    200,
    "runs that did not succeed (error, timed_out, abandoned, skipped) kept per job, apart from the successful ones",
)
READY_FILE = Setting(
    "SCHEDULER_READY_FILE",
    _parse_path,
    None,
    "when set, no fire before this file exists; the systemd unit sets `/run/<app>/web-ready`, "
    "which its `ExecStartPost` creates once the kit's `<prefix>/livez` answers",
)
WATCHDOG_TIMEOUT = Setting(
    "SCHEDULER_WATCHDOG_TIMEOUT",
    _seconds(1, 3600),
    5.0,
    "seconds the dispatch loop may make no progress before the runner gives up the lease and is replaced",
)
ADMIN_TOKEN = Setting(
    "SCHEDULER_ADMIN_TOKEN",
    _parse_token,
    None,
    "bearer token for the admin endpoints (run, pause, resume) and the status page's buttons; "
    "at least 16 visible ASCII characters (`openssl rand -hex 32`); never logged",
    doc_default="unset (admin endpoints off)",
    secret=True,
)
READ_TOKEN = Setting(
    "SCHEDULER_READ_TOKEN",
    _parse_token,
    None,
    "bearer token for the status API, the page's data and `/metrics` (the admin token works too); "
    "at least 16 visible ASCII characters; never logged",
    doc_default="unset (reading is open)",
    secret=True,
)
ALLOW_UNKNOWN = Setting(
    "SCHEDULER_ALLOW_UNKNOWN",
    _parse_bool,
    False,
    "`true`: an unknown `SCHEDULER_*` variable (one a newer version reads) only logs a warning; by default "
    "it stops the start with a did-you-mean, since a misspelt setting (a token, the Redis URL) would be ignored",
)
TEST_CLOCK_OFFSET = Setting(
    "SCHEDULER_TEST_CLOCK_OFFSET",
    _seconds(-86400, 86400),
    0.0,
    "testing only: shift the scheduler side's wall clock (and APScheduler's) by this many seconds, "
    "to play a host whose clock is off (`make chaos` does); never in production",
)

# --- cluster mode ----------------------------------------------------------------------------------
REDIS_URL = Setting(
    "SCHEDULER_REDIS_URL",
    _parse_redis_url,
    None,
    "`redis://[user:password@]host:6379/0`, `rediss://` for TLS, `unix:///path.sock`; turns cluster mode on",
    doc_default="unset (single host)",
    example="redis://127.0.0.1:6379/0",
    cluster=True,
    show=_show_redacted,  # the password in it is masked, the rest helps find the mistake
)
REDIS_USERNAME = Setting(
    "SCHEDULER_REDIS_USERNAME",
    str,
    None,
    "Redis ACL user (preferred over putting it in the URL)",
    doc_default="from the URL",
    cluster=True,
)
REDIS_PASSWORD = Setting(
    "SCHEDULER_REDIS_PASSWORD",
    str,
    None,
    "Redis password (preferred over putting it in the URL); never logged",
    doc_default="from the URL",
    cluster=True,
    secret=True,
)
REDIS_TLS_CA_FILE = Setting(
    "SCHEDULER_REDIS_TLS_CA_FILE",
    _parse_readable_file,
    None,
    "CA bundle that signs the Redis server certificate (`rediss://`)",
    doc_default="system CAs",
    cluster=True,
)
REDIS_TLS_CERT_FILE = Setting(
    "SCHEDULER_REDIS_TLS_CERT_FILE",
    _parse_readable_file,
    None,
    "client certificate for Redis TLS (mutual TLS)",
    doc_default="none",
    cluster=True,
)
REDIS_TLS_KEY_FILE = Setting(
    "SCHEDULER_REDIS_TLS_KEY_FILE",
    _parse_readable_file,
    None,
    "client key for Redis TLS (mutual TLS)",
    doc_default="none",
    cluster=True,
)
REDIS_CLUSTER = Setting(
    "SCHEDULER_REDIS_CLUSTER",
    _parse_bool,
    False,
    "`true`: the URL names a node of a Redis Cluster (redis-py's cluster client)",
    cluster=True,
)
REDIS_SENTINELS: Setting[tuple[tuple[str, int], ...]] = Setting(
    "SCHEDULER_REDIS_SENTINELS",
    _parse_sentinels,
    (),
    "Redis Sentinels to ask instead of one URL's host (redis-py has no sentinel URL scheme); turns cluster mode on",
    doc_default="unset",
    example="host:26379,host:26379",
    cluster=True,
)
REDIS_SENTINEL_MASTER = Setting(
    "SCHEDULER_REDIS_SENTINEL_MASTER",
    _parse_name,
    None,
    "the master name the Sentinels watch",
    doc_default="none, required with Sentinels",
    example="mymaster",
    cluster=True,
)
REDIS_SENTINEL_PASSWORD = Setting(
    "SCHEDULER_REDIS_SENTINEL_PASSWORD",
    str,
    None,
    "password of the Sentinels themselves, if they have one; never logged",
    doc_default="none",
    cluster=True,
    secret=True,
)
REDIS_SENTINEL_TLS = Setting(
    "SCHEDULER_REDIS_SENTINEL_TLS",
    _parse_bool,
    False,
    "`true`: the Sentinels speak TLS, and so does the master they name (with the CA, cert and key above, "
    "else the system CAs)",
    cluster=True,
)
REDIS_MIN_REPLICAS = Setting(
    "SCHEDULER_REDIS_MIN_REPLICAS",
    _integer(0, 100),
    0,
    "replicas that must acknowledge a claim (`WAIT`) before the fire runs",
    cluster=True,
)
REDIS_WAIT_TIMEOUT = Setting(
    "SCHEDULER_REDIS_WAIT_TIMEOUT",
    _seconds(0.001, 10),
    0.1,
    "seconds to wait for them; at most half the Redis socket timeout (a quarter of the lease TTL, up to 1 s)",
    cluster=True,
)
POSTGRES_URL = Setting(
    "SCHEDULER_POSTGRES_URL",
    _parse_postgres_url,
    None,
    "libpq's URL, `postgresql://user@host:5432/dbname`, with TLS "
    "`?sslmode=verify-full&sslrootcert=/path/ca.pem`; turns cluster mode on with PostgreSQL as the "
    "coordination store instead of Redis (needs the `postgres` extra)",
    doc_default="unset (single host)",
    example="postgresql://app@db/app",
    cluster=True,
    show=_show_redacted,
)
POSTGRES_PASSWORD = Setting(
    "SCHEDULER_POSTGRES_PASSWORD",
    str,
    None,
    "the PostgreSQL role's password (preferred over putting it in the URL); never logged",
    cluster=True,
    secret=True,
)
POSTGRES_SCHEMA = Setting(
    "SCHEDULER_POSTGRES_SCHEMA",
    _parse_schema_name,
    FromEnv(lambda env: schema_for_namespace(env)),
    "the schema the kit creates and keeps its tables in (one per app: two apps never share one)",
    doc_default="`scheduler_` + the namespace (lowercase, `_` for other characters)",
    cluster=True,
)
LEASE_TTL = Setting(
    "SCHEDULER_LEASE_TTL",
    _seconds(0.5, 300),
    10.0,
    "seconds the leader lease lives without renewal (0.5-300); failover takes up to TTL + 0.5 s",
    cluster=True,
)
MAX_CLOCK_OFFSET = Setting(
    "SCHEDULER_MAX_CLOCK_OFFSET",
    _seconds(0.05, 60),
    1.0,
    "seconds this host's clock may be off the store's (Redis's or PostgreSQL's) before it refuses to lead "
    "(0.05-60); also the margin "
    "of the floor after a possible loss of claims; the same on every host",
    cluster=True,
)

#: Every variable, in the order of the docs and of the "known variables" hint.
ALL: tuple[Setting[Any], ...] = (
    ENABLED,
    JOBS,
    NODE_ID,
    NAMESPACE,
    LOCK_DIR,
    STATE_DIR,
    STOP_GRACE,
    MISFIRE_GRACE,
    START_TIMEOUT,
    MAX_WORKERS,
    RESTART_BACKOFF_MAX,
    CLAIM_RETENTION,
    LOG_LEVEL,
    LOG_FORMAT,
    HISTORY_SIZE,
    HISTORY_FAILURES_SIZE,
    READY_FILE,
    WATCHDOG_TIMEOUT,
    ADMIN_TOKEN,
    READ_TOKEN,
    ALLOW_UNKNOWN,
    REDIS_URL,
    REDIS_USERNAME,
    REDIS_PASSWORD,
    REDIS_TLS_CA_FILE,
    REDIS_TLS_CERT_FILE,
    REDIS_TLS_KEY_FILE,
    REDIS_CLUSTER,
    REDIS_SENTINELS,
    REDIS_SENTINEL_MASTER,
    REDIS_SENTINEL_PASSWORD,
    REDIS_SENTINEL_TLS,
    REDIS_MIN_REPLICAS,
    REDIS_WAIT_TIMEOUT,
    POSTGRES_URL,
    POSTGRES_PASSWORD,
    POSTGRES_SCHEMA,
    LEASE_TTL,
    TEST_CLOCK_OFFSET,
    MAX_CLOCK_OFFSET,
)
