"""Typed, frozen settings built once from ``SCHEDULER_*`` environment variables."""

from __future__ import annotations

import difflib
import math
import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from scheduler_proc.errors import SettingsError

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
}

T = TypeVar("T")


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

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Parse and validate; raise one :class:`SettingsError` listing every bad variable."""
        env = os.environ if environ is None else environ
        reader = _Reader(env)
        settings = cls(
            enabled=reader.get("SCHEDULER_ENABLED", _parse_bool, True),
            jobs_ref=reader.get("SCHEDULER_JOBS", _parse_jobs_ref, "app.jobs:jobs"),
            node_id=reader.get("SCHEDULER_NODE_ID", _parse_node, socket.gethostname()),
            namespace=reader.get("SCHEDULER_NAMESPACE", _parse_name, "scheduler"),
            lock_dir=reader.get("SCHEDULER_LOCK_DIR", _parse_path, default_lock_dir(env)),
            state_dir=reader.get("SCHEDULER_STATE_DIR", _parse_path, default_state_dir(env)),
            stop_grace=reader.get("SCHEDULER_STOP_GRACE", _seconds(0, 86400), None),
            misfire_grace=reader.get("SCHEDULER_MISFIRE_GRACE", _seconds(0, 86400), 30.0),
            start_timeout=reader.get("SCHEDULER_START_TIMEOUT", _seconds(1, 3600), 30.0),
            max_workers=reader.get("SCHEDULER_MAX_WORKERS", _integer(1, 1000), 10),
            restart_backoff_max=reader.get("SCHEDULER_RESTART_BACKOFF_MAX", _seconds(1, 3600), 30.0),
            claim_retention=reader.get("SCHEDULER_CLAIM_RETENTION", _seconds(60, 366 * 86400), 172800.0),
            log_level=reader.get("SCHEDULER_LOG_LEVEL", _parse_log_level, "INFO"),
        )
        reader.raise_if_bad()
        return settings

    @property
    def lock_path(self) -> Path:
        """The host lock file: one scheduler per host and namespace holds it."""
        return self.lock_dir / f"{self.namespace}.lock"

    @property
    def ledger_path(self) -> Path:
        """The SQLite file that remembers claimed fires in single-host mode."""
        return self.state_dir / f"{self.namespace}.sqlite3"

    def status_path(self, master_pid: int) -> Path:
        """Where the scheduler started by gunicorn master ``master_pid`` publishes its state."""
        return self.lock_dir / f"{self.namespace}.{master_pid}.status.json"


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

    def get(self, name: str, parse: Callable[[str], T], default: T) -> T:
        assert name in KNOWN_VARIABLES, name
        raw = self._env.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            return parse(raw.strip())
        except ValueError as exc:
            self._problems.append(f"{name}={raw!r} is invalid: {exc}")
            return default

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
