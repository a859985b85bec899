"""POSTGRES=<url>: the env file pointed at a PostgreSQL server, and the release's venv given its driver.

The URL's password (in its user part, or a ``password=`` parameter) goes into
SCHEDULER_POSTGRES_PASSWORD and never into SCHEDULER_POSTGRES_URL, a message or a command
line. A libpq URL may name several hosts (``host1:5432,host2:5432``) and take ``host=`` and
``hostaddr=`` parameters: each is read here as libpq would, for the unit's address list.
"""

from __future__ import annotations

import ipaddress
import subprocess
import tomllib
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from scheduler_proc.deploy.layout import UNSAFE_IN_ENV, DeployError, Layout, env_value, read_env, run_step, say
from scheduler_proc.deploy.project import Source

SCHEMES = ("postgresql", "postgres")
URL_VARIABLE = "SCHEDULER_POSTGRES_URL"
#: What turns cluster mode on with Redis: one store only (the settings refuse both at start).
REDIS_VARIABLES = ("SCHEDULER_REDIS_URL", "SCHEDULER_REDIS_SENTINELS")
#: The kit's optional dependencies for PostgreSQL (pyproject.toml's [project.optional-dependencies]).
EXTRA = "postgres"
EXAMPLE = "postgresql://user:password@10.0.0.5:5432/dbname"


@dataclass(frozen=True)
class PostgresUrl:
    """A libpq connection URL taken apart: ``url`` without any password, and the password alone."""

    scheme: str
    user: str  # as written (percent-encoded), "" for none
    hosts: tuple[str, ...]  # as written: "10.0.0.5:5432", "[fd00::5]", "db.internal"
    path: str
    #: The query's parameters as written, the password's left out.
    params: tuple[str, ...]
    password: str | None  # decoded

    @property
    def url(self) -> str:
        """What SCHEDULER_POSTGRES_URL gets: the URL as given, without its password."""
        query = "&".join(self.params)
        return f"{self.scheme}://{self.user + '@' if self.user else ''}{','.join(self.hosts)}{self.path}" + (
            f"?{query}" if query else ""
        )

    @property
    def shown(self) -> str:
        """Where it points, for messages: no password, no parameters (a key file's path, say)."""
        return f"{self.scheme}://{self.user + '@' if self.user else ''}{','.join(self.hosts)}{self.path}"

    def param(self, name: str) -> list[str]:
        """The decoded values of the query parameter ``name`` (libpq allows comma lists in host/hostaddr)."""
        return [urllib.parse.unquote(p.partition("=")[2]) for p in self.params if p.partition("=")[0] == name]


def parse_url(raw: str) -> PostgresUrl:
    """``raw`` taken apart, or ValueError saying what a POSTGRES= URL must look like (never quoting it)."""
    scheme, sep, rest = raw.partition("://")
    if not sep or scheme not in SCHEMES or any(c.isspace() for c in raw):
        raise ValueError(f"POSTGRES must be a PostgreSQL URL such as {EXAMPLE}")
    rest, _, fragment = rest.partition("#")
    rest, _, query = rest.partition("?")
    netloc, slash, path = rest.partition("/")
    userinfo, _, hostspec = netloc.rpartition("@")
    user, colon, written_password = userinfo.partition(":")
    params = [p for p in query.split("&") if p]
    query_passwords = [urllib.parse.unquote(p.partition("=")[2]) for p in params if p.partition("=")[0] == "password"]
    passwords = ([urllib.parse.unquote(written_password)] if colon else []) + query_passwords
    if fragment or len(set(passwords)) > 1:
        raise ValueError(
            f"POSTGRES: {'a #fragment' if fragment else 'two different passwords'} in the URL; give one URL such as "
            f"{EXAMPLE}"
        )
    hosts = tuple(hostspec.split(",")) if hostspec else ()
    for host in hosts:
        _, port = _split_host(host)
        if port is None or (port and not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535)):
            raise ValueError(f"POSTGRES: a host of the URL is not host[:port]; use for example {EXAMPLE}")
    for what, value in (("user name", urllib.parse.unquote(user)), ("password", passwords[0] if passwords else "")):
        if UNSAFE_IN_ENV.search(value):
            raise ValueError(
                f"POSTGRES: the URL's {what} holds a control character, a quote or a backslash once decoded "
                "(a percent-encoded newline such as %0A, say), which the env file cannot carry; choose one of "
                "printable characters without quotes or backslashes (percent-encode only @ : / % in it)"
            )
    kept = tuple(p for p in params if p.partition("=")[0] != "password")
    return PostgresUrl(scheme, user, hosts, slash + path, kept, passwords[0] if passwords else None)


def point_at_postgres(layout: Layout, url: str) -> bool:
    """POSTGRES=<url>: cluster mode on that PostgreSQL, written into the env file once (like the file).

    True if the env file changed (the running service must restart to read it).
    """
    parsed = parse_url(url)
    env = read_env(layout.env_file)
    if URL_VARIABLE in env:
        if env[URL_VARIABLE] != parsed.url:
            say(f"note: {layout.env_file} has {URL_VARIABLE} already; leaving it as it is (edit it if that is wrong)")
        return False
    lines = [f"{URL_VARIABLE}={env_value('POSTGRES', parsed.url)}"]
    if parsed.password:
        lines.append(f"SCHEDULER_POSTGRES_PASSWORD={env_value('POSTGRES', parsed.password)}")
    with open(layout.env_file, "a") as handle:
        handle.write("\n# Added by make deploy POSTGRES=...\n" + "\n".join(lines) + "\n")
    say(f"pointed {layout.env_file} at the PostgreSQL at {parsed.shown}")
    return True


def check_one_store(layout: Layout, redis: str, postgres: str) -> None:
    """Refuse a deploy that would leave the env file naming both stores (the service would refuse to start)."""
    env = read_env(layout.env_file) if layout.env_file.exists() else {}
    pointed = [name for name in REDIS_VARIABLES if env.get(name)]
    if postgres and pointed:
        raise DeployError(
            f"POSTGRES= given, but {layout.env_file} points at Redis ({pointed[0]}); the cluster coordinates "
            "through one store: to move to PostgreSQL, remove the Redis lines there and deploy again"
        )
    if redis and uses_postgres(env):
        raise DeployError(
            f"REDIS= given, but {layout.env_file} points at PostgreSQL ({URL_VARIABLE}); the cluster coordinates "
            f"through one store: to move to Redis, remove its {URL_VARIABLE} and SCHEDULER_POSTGRES_PASSWORD lines "
            "and deploy again"
        )


def uses_postgres(env: dict[str, str]) -> bool:
    """Whether the service will coordinate through PostgreSQL (its release then needs the driver)."""
    return bool(env.get(URL_VARIABLE, "").strip())


def install_driver(release: Path, source: Source, pip: list[str]) -> None:
    """psycopg into the release's venv: the kit's ``postgres`` extra, as pinned as the release's requirements.

    The kit's checkout (no --project) names the extra in its pyproject.toml and pins it in
    requirements.lock; a project's venv has the kit installed, whose extra pip adds at its version.
    """
    if source.project:
        version = _installed_kit_version(release)
        run_step([*pip, f"scheduler-proc[{EXTRA}]=={version}"], f"install the kit's {EXTRA} extra (psycopg)", release)
    else:
        wanted = _extra_of(release / "pyproject.toml")
        run_step(
            [*pip, "-c", source.requirements, *wanted],
            f"install the kit's {EXTRA} extra ({', '.join(wanted)})",
            release,
        )
    found = subprocess.run([str(release / "venv/bin/python"), "-I", "-c", "import psycopg"], capture_output=True)
    if found.returncode != 0:
        raise DeployError(
            f"the release's venv cannot import psycopg after installing the kit's {EXTRA} extra: "
            f"{found.stderr.decode(errors='replace').strip()[-500:]}"
        )


def _extra_of(pyproject: Path) -> list[str]:
    """The requirements of the kit's postgres extra, from its pyproject.toml."""
    try:
        extras = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]
        wanted = [str(requirement) for requirement in extras[EXTRA]]
    except (OSError, KeyError, TypeError, tomllib.TOMLDecodeError):
        wanted = []
    if not wanted:
        raise DeployError(
            f"{pyproject} names no {EXTRA!r} extra: this checkout of the kit predates PostgreSQL support; "
            "update it, or deploy without POSTGRES="
        )
    return wanted


def _installed_kit_version(release: Path) -> str:
    """The version of scheduler-proc the project's requirements installed into the release's venv."""
    found = subprocess.run(
        [
            str(release / "venv/bin/python"),
            "-I",
            "-c",
            "import importlib.metadata as m; print(m.version('scheduler-proc'))",
        ],
        capture_output=True,
        text=True,
    )
    if found.returncode != 0 or not found.stdout.strip():
        raise DeployError("the release's venv has no scheduler-proc to add the postgres extra to")
    return found.stdout.strip()


def postgres_peers(url: str) -> tuple[list[str] | None, str]:
    """The addresses a SCHEDULER_POSTGRES_URL connects to (None: a name whose address may change), and why not.

    A ``hostaddr=`` gives the addresses libpq connects to (``host`` then only names the
    certificate); a host starting with ``/`` is a unix socket directory, no address at all.
    """
    try:
        parsed = parse_url(url)
    except ValueError:
        return None, "SCHEDULER_POSTGRES_URL is not a URL deploy can read"
    names = [",".join(parsed.param("hostaddr"))] if parsed.param("hostaddr") else [*parsed.param("host")]
    if not names:
        names = [_split_host(host)[0] for host in parsed.hosts]
    peers: list[str] = []
    for name in (part for joined in names for part in joined.split(",") if part):
        if name.startswith("/"):
            continue
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            return None, f"SCHEDULER_POSTGRES_URL names the host {name!r}, whose address may change"
        peers += [] if address.is_loopback else [str(address)]
    return peers, ""


def _split_host(host: str) -> tuple[str, str | None]:
    """``host[:port]`` of a libpq URL as (host, port): the host decoded, brackets off; port None if unreadable."""
    if host.startswith("["):
        name, bracket, rest = host[1:].partition("]")
        return name, (rest[1:] if rest.startswith(":") or not rest else None) if bracket else None
    name, _, port = host.partition(":")
    return urllib.parse.unquote(name), port
