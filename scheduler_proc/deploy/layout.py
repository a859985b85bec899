"""Where one app lives (:class:`Layout`), the files deploy reads back, and how a failed step is reported."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

#: The service, its user and its directories are all named after the app: keep it a plain name
#: (useradd's and systemd's rules), so no path can leave the app's own directories.
APP_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class DeployError(Exception):
    """A step failed; the message says what and how to fix it."""


#: What no value in the env file may hold: systemd's EnvironmentFile reads a newline as a new
#: variable, a trailing backslash as a continuation, and quotes as quoting.
UNSAFE_IN_ENV = re.compile(r"[\x00-\x1f\x7f\"'\\]")


def env_value(name: str, value: str) -> str:
    """``value`` if the env file can carry it as it is, else DeployError naming the variable (never the value)."""
    if UNSAFE_IN_ENV.search(value) or value != value.strip():
        raise DeployError(
            f"{name}: the value holds a control character, a quote, a backslash or surrounding spaces, which the "
            "env file cannot carry as it is; give a value of printable characters without those"
        )
    return value


def say(message: str) -> None:
    print(f"deploy: {message}", flush=True)


@dataclass(frozen=True)
class Layout:
    """Every path of one app, under ``root`` (``/`` or DESTDIR)."""

    root: Path
    app: str

    def at(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")

    @property
    def opt(self) -> Path:
        return self.at(f"/opt/{self.app}")

    @property
    def releases(self) -> Path:
        return self.opt / "releases"

    @property
    def current(self) -> Path:
        return self.opt / "current"

    @property
    def previous(self) -> Path:
        return self.opt / "previous"

    @property
    def etc(self) -> Path:
        return self.at(f"/etc/{self.app}")

    @property
    def env_file(self) -> Path:
        return self.etc / "env"

    @property
    def unit(self) -> Path:
        return self.at(f"/etc/systemd/system/{self.app}.service")

    @property
    def state(self) -> Path:
        return self.at(f"/var/lib/{self.app}")

    @property
    def redis_conf(self) -> Path:
        return self.at("/etc/redis/redis.conf")


def parse_unit(text: str) -> dict[str, str]:
    """The last value of each key of a unit file (enough for the keys the stand-in uses)."""
    values = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def read_env(path: Path) -> dict[str, str]:
    """KEY=value lines of an EnvironmentFile (comments and blanks skipped)."""
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip().strip('"')
    return env


def run_step(command: list[str], what: str, cwd: Path | None = None) -> None:
    result = subprocess.run(command, capture_output=True, text=True, cwd=cwd)
    if result.returncode != 0:
        raise DeployError(f"could not {what}: {' '.join(command)} exited {result.returncode}\n{result.stderr[-2000:]}")
