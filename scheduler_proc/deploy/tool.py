"""Single-VM install with systemd: ``make deploy``, ``make rollback``, ``make undeploy``.

Runs as root with the system Python (stdlib only: the modules of the kit it imports,
``variables``, ``securedir`` and ``web/ready``, are stdlib only too).

Two modes. Without ``--project`` it ships the kit's checkout (its demo ``app/``, its
``gunicorn.conf.py``) and installs the kit's ``requirements.lock`` (``make lock`` writes it).
With ``--project DIR`` it ships your own project instead: the files ``git ls-files`` lists
(tracked and not ignored; or, outside git, every file but caches and venvs), installs the
PROJECT's ``requirements.lock`` (else ``requirements.txt``), which must name the kit
(``scheduler-proc==X``; ``--find-links`` adds a wheelhouse), runs ``gunicorn -c <config>
<--asgi>`` with the project's ``gunicorn.conf.py`` or the kit's
``python:scheduler_proc.gunicorn_conf``, and writes ``SCHEDULER_JOBS`` (``--jobs``) and
``SCHEDULER_NAMESPACE=<app>`` into a new env file. Readiness is the kit's own
``<--health-prefix>/livez`` and ``/readyz`` (default ``/scheduler``), never the app's routes.

Layout (prefixed by DESTDIR when staging):

    /opt/<app>/releases/<id>/   code + venv built from the requirements; <id> hashes the code, the
                                requirements and the gunicorn command
    /opt/<app>/current          symlink to the live release (switched atomically)
    /opt/<app>/previous         symlink to the release before it (what rollback returns to)
    /etc/<app>/env              settings, 0640 root:<app>, written once and never overwritten
    /etc/systemd/system/<app>.service
    /var/lib/<app>              state (systemd StateDirectory); /run/<app> holds the host lock

A second deploy of the same code changes nothing and does not restart the service
(unless it changed the env file, which the service reads only when it starts).
"""

from __future__ import annotations

import argparse
import contextlib
import grp
import hashlib
import ipaddress
import math
import os
import pwd
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from scheduler_proc.deploy import ownership
from scheduler_proc.deploy.health import health_check
from scheduler_proc.deploy.layout import (
    APP_NAME,
    UNSAFE_IN_ENV,
    DeployError,
    Layout,
    env_value,
    read_env,
    run_step,
    say,
)
from scheduler_proc.deploy.postgres import (
    check_one_store,
    install_driver,
    parse_url,
    point_at_postgres,
    postgres_peers,
    uses_postgres,
)
from scheduler_proc.deploy.project import ProjectError, Source, project_source, template_source
from scheduler_proc.deploy.redis_local import (
    ConfFile,
    point_at_redis,
    remove_local_redis,
    restart_redis,
    setup_local_redis,
)
from scheduler_proc.deploy.services import ServiceManager, Staged, Systemd

# The env file's SCHEDULER_* values are checked by their declarations, as the service will check them.
from scheduler_proc.variables import JOBS, STOP_GRACE
from scheduler_proc.web.ready import DEFAULT_BIND, DEFAULT_PREFIX, parse_prefix

#: The unit and env file templates (package data).
HERE = Path(__file__).resolve().parent
#: Template mode ships the kit's own checkout (its demo ``app/``): the directory above the package.
SOURCE = HERE.parent.parent

KEEP_RELEASES = 5


# --- steps ------------------------------------------------------------------------------------
def release_id(python: str, source: Source, postgres: bool = False) -> str:
    """A hash of what the release is made of and of the interpreter: same code, same release, no restart.

    ``postgres``: its venv also has the PostgreSQL driver, so it is another release.
    """
    digest = hashlib.sha256(subprocess.run([python, "-VV"], capture_output=True, text=True).stdout.encode())
    source.fingerprint(digest)
    if postgres:
        digest.update(b"\0extra\0postgres\0")
    return digest.hexdigest()[:12]


def build_release(layout: Layout, rid: str, python: str, source: Source, postgres: bool = False) -> Path:
    """Copy the code and build its venv (``postgres``: with the driver); a release counts once its marker exists."""
    release = layout.releases / rid
    if (release / ".complete").exists():
        say(f"release {rid} is already built")
        return release
    if release.exists():
        shutil.rmtree(release)  # a build that was interrupted
    say(f"building release {rid} in {release}")
    release.mkdir(parents=True)
    source.copy_to(release)
    run_step(
        [python, "-m", "venv", str(release / "venv")],
        f"create the venv with the system Python ({python}); on Debian install python3-venv",
    )
    pip = [str(release / "venv/bin/pip"), "install", "--quiet", "--no-input", "--disable-pip-version-check"]
    pip += ["--find-links", source.find_links] if source.find_links else []
    run_step([*pip, "-r", source.requirements], f"install the pinned requirements ({source.requirements})", release)
    if source.install_itself:
        run_step([*pip, "--no-deps", "."], "install the project itself (pip install --no-deps .)", release)
    if source.project:
        _check_kit_installed(release, source)
    if postgres:
        install_driver(release, source, pip)
    (release / ".complete").write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + "\n")
    return release


def _check_kit_installed(release: Path, source: Source) -> None:
    """The project's requirements must bring the kit: the unit runs its gunicorn config and readiness gate."""
    found = subprocess.run(
        [str(release / "venv/bin/python"), "-I", "-c", "import scheduler_proc.web.ready"], capture_output=True
    )
    if found.returncode != 0:
        where = f" (or put its wheel in {source.find_links})" if source.find_links else " (WHEELS=<dir> of wheels)"
        raise DeployError(
            f"the release's venv cannot import scheduler_proc: add scheduler-proc==VERSION to "
            f"{source.root / source.requirements}{where}, then deploy again"
        )


def switch(layout: Layout, release: Path) -> bool:
    """Point ``current`` at the release atomically (rename of a new symlink); False if it already does."""
    target = Path("releases") / release.name
    if layout.current.is_symlink() and Path(os.readlink(layout.current)) == target:
        return False
    if layout.current.is_symlink():
        _symlink(layout.previous, Path(os.readlink(layout.current)))
    _symlink(layout.current, target)
    say(f"current -> {target}")
    return True


def _symlink(link: Path, target: Path) -> None:
    tmp = link.with_name(f".{link.name}.new")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    os.replace(tmp, link)


def install_env(layout: Layout, bind: str, user: str, jobs: str = "") -> None:
    """Write the documented env file once; never overwrite the operator's edits.

    ``jobs`` (project mode) goes into a new file with SCHEDULER_NAMESPACE=<app>.
    """
    layout.etc.mkdir(parents=True, exist_ok=True)
    if layout.env_file.exists():
        say(f"{layout.env_file} exists; leaving it as it is")
        written = read_env(layout.env_file).get(JOBS.name)
        if jobs and written != jobs:
            say(f"note: {layout.env_file} has {JOBS.name}={written or '(unset)'}, not {jobs}; edit it if that is wrong")
    else:
        text = (HERE / "env.in").read_text().replace("@APP@", layout.app).replace("@BIND@", env_value("BIND", bind))
        if jobs:
            text += (
                "\n# --- this project (deploy --project) -----------------------------------------------\n"
                f"{JOBS.name}={env_value(JOBS.name, jobs)}\nSCHEDULER_NAMESPACE={layout.app}\n"
            )
        layout.env_file.write_text(text)
        say(f"wrote {layout.env_file}")
    os.chmod(layout.env_file, 0o640)
    _chown(layout.env_file, "root", user)


def _chown(path: Path, owner: str, group: str) -> None:
    with contextlib.suppress(KeyError):  # staging without the service user: the real install sets it
        os.chown(path, pwd.getpwnam(owner).pw_uid, grp.getgrnam(group).gr_gid)


def _seconds_in(env: dict[str, str], name: str, default: float, path: Path) -> float:
    """A number of seconds from the env file, or a clear error naming the file and the line to fix."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 86400:
        raise DeployError(f"{path}: {name}={raw!r} is not a number of seconds from 0 to 86400; fix that line")
    return value


def _stop_grace_in(env: dict[str, str], graceful: float, path: Path) -> float:
    """SCHEDULER_STOP_GRACE from the env file (gunicorn's grace when unset), or an error naming the line."""
    raw = env.get(STOP_GRACE.name, "").strip()
    if not raw:
        return graceful
    try:
        grace = STOP_GRACE.parse(raw)
    except ValueError as exc:
        raise DeployError(f"{path}: {STOP_GRACE.name}={raw!r} is invalid: {exc}; fix that line") from None
    return graceful if grace is None else grace


_ANYWHERE = "; the service and its jobs may reach any address"


def _address_list(env: dict[str, str]) -> tuple[list[str] | None, str]:
    """The addresses the service may reach besides this host (None: no list can cover them), and why.

    Only a setup whose every peer is fixed gets a list: HTTP on loopback and a Redis or a
    PostgreSQL named by IP address. Sentinel names the master at run time and Redis Cluster
    names its other nodes (MOVED replies, resharding), so a list of the addresses in the env
    file would block them.
    """
    bind_host = (env.get("BIND") or DEFAULT_BIND).rpartition(":")[0].strip("[]")
    if bind_host not in ("127.0.0.1", "::1", "localhost"):
        return None, "BIND serves clients beyond this host" + _ANYWHERE
    if env.get("SCHEDULER_REDIS_SENTINELS", "").strip():
        return (
            None,
            "Sentinel names the master at run time (a failover moves it), so no fixed list covers it" + _ANYWHERE,
        )
    if env.get("SCHEDULER_REDIS_CLUSTER", "").strip().lower() in ("1", "true", "yes", "on"):
        return None, "Redis Cluster names its other nodes at run time (MOVED, resharding)" + _ANYWHERE
    if uses_postgres(env):
        peers, why = postgres_peers(env["SCHEDULER_POSTGRES_URL"])
        return peers, (why + _ANYWHERE) if peers is None else ""
    peers = []
    url = env.get("SCHEDULER_REDIS_URL", "")
    host = url.split("://", 1)[-1].rpartition("@")[2].split("/")[0].rsplit(":", 1)[0].strip("[]")
    if url and not url.startswith("unix://") and host:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return None, f"SCHEDULER_REDIS_URL names the host {host!r}, whose address may change" + _ANYWHERE
        peers += [] if address.is_loopback else [str(address)]
    return peers, ""


def network_note(env: dict[str, str]) -> str:
    """One sentence for the unit and the deploy output: what the service and its jobs may reach."""
    peers, why = _address_list(env)
    if peers is None:
        return f"no IPAddressDeny: {why}"
    store = "PostgreSQL" if uses_postgres(env) else "Redis"
    reach = "this host" + "".join(f" and {peer}" for peer in peers) + (f" (its {store})" if peers else "")
    return (
        f"IPAddressDeny=any: the service and its jobs can reach only {reach}; a job that calls "
        "any other host fails. To let jobs out, bind beyond loopback or remove IPAddressDeny with a drop-in"
    )


def network_policy(env: dict[str, str]) -> str:
    """The unit's IPAddressDeny/Allow lines (or none), headed by the sentence that says what may be reached."""
    peers, _ = _address_list(env)
    lines = "" if peers is None else "\nIPAddressDeny=any\nIPAddressAllow=localhost" + "".join(f" {p}" for p in peers)
    return f"# {network_note(env)}.{lines}"


@dataclass(frozen=True)
class Limits:
    """The unit's resource limits (MEMORY_MAX, TASKS_MAX, LIMIT_NOFILE): a runaway job cannot take the host."""

    memory_max: str = "1G"
    tasks_max: str = "512"
    nofile: str = "16384"


def install_unit(
    layout: Layout,
    redis_local: bool,
    gunicorn_args: str = "-c gunicorn.conf.py",
    prefix: str = DEFAULT_PREFIX,
    limits: Limits = Limits(),
) -> bool:
    """Render the unit (ExecStart's gunicorn arguments, the readiness gate's prefix); True if it changed."""
    env = read_env(layout.env_file)
    graceful = _seconds_in(env, "GRACEFUL_TIMEOUT", 30.0, layout.env_file)
    grace = _stop_grace_in(env, graceful, layout.env_file)
    text = (
        (HERE / "app.service.in")
        .read_text()
        .replace("@APP@", layout.app)
        .replace("@TIMEOUT_STOP@", str(int(graceful + grace + 15)))
        .replace("@AFTER@", " redis-server.service" if redis_local else "")
        .replace("@WANTS@", " redis-server.service" if redis_local else "")
        .replace("@NETWORK@", network_policy(env))
        .replace("@GUNICORN_ARGS@", gunicorn_args)
        .replace("@PREFIX@", prefix)
        .replace("@MEMORY_MAX@", limits.memory_max)
        .replace("@TASKS_MAX@", limits.tasks_max)
        .replace("@NOFILE@", limits.nofile)
    )
    if layout.unit.exists() and layout.unit.read_text() == text:
        return False
    layout.unit.parent.mkdir(parents=True, exist_ok=True)
    layout.unit.write_text(text)
    os.chmod(layout.unit, 0o644)
    say(f"wrote {layout.unit}")
    return True


def ensure_user(layout: Layout, staged: bool) -> None:
    try:
        pwd.getpwnam(layout.app)
    except KeyError:
        if staged:
            say(f"staged only: the system user {layout.app!r} would be created")
            return
        run_step(
            [
                "useradd",
                "--system",
                "--home-dir",
                f"/var/lib/{layout.app}",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                layout.app,
            ],
            f"create the system user {layout.app}",
        )
        say(f"created system user {layout.app}")


def prune(layout: Layout) -> None:
    """Keep the newest releases (never the current or previous one)."""
    keep = {Path(os.readlink(link)).name for link in (layout.current, layout.previous) if link.is_symlink()}
    releases = sorted(
        (p for p in layout.releases.iterdir() if (p / ".complete").exists()),
        key=lambda p: (p / ".complete").stat().st_mtime,
        reverse=True,
    )
    for old in releases[KEEP_RELEASES:]:
        if old.name not in keep:
            shutil.rmtree(old)
            say(f"pruned release {old.name}")


# --- commands ---------------------------------------------------------------------------------
def _source(args: argparse.Namespace) -> Source:
    """What this deploy ships: the project given by --project, else the kit's own checkout."""
    try:
        if not args.project:
            return template_source(SOURCE, args.find_links)
        layout = Layout(Path(args.destdir or "/"), args.app)
        for own in (layout.opt, layout.etc, layout.state):
            if args.project.resolve().is_relative_to(own.resolve()):
                raise ProjectError(
                    f"--project {args.project} lies in {own}, which deploy manages (undeploy removes what it put "
                    "there): keep your project elsewhere, for example /srv/src/" + args.app
                )
        return project_source(args.project, args.asgi, args.find_links)
    except ProjectError as exc:
        raise DeployError(str(exc)) from None


class Snapshot:
    """The env file and redis.conf as they were before a deploy, to put back if it fails."""

    def __init__(self, layout: Layout, staged: bool) -> None:
        self.layout, self.staged = layout, staged
        self.env = layout.env_file.read_bytes() if layout.env_file.is_file() else None
        self.redis_conf = ConfFile(layout.redis_conf).read() if os.path.lexists(layout.redis_conf) else None

    def restore(self) -> None:
        """Put back what changed (a file this deploy created goes); say what was restored."""
        env_file = self.layout.env_file
        now = env_file.read_bytes() if env_file.is_file() else None
        if now != self.env:
            if self.env is None:
                env_file.unlink()
            else:
                env_file.write_bytes(self.env)
            say(f"restored {env_file} as it was before this deploy")
        if self.redis_conf is not None and ConfFile(self.layout.redis_conf).read() != self.redis_conf:
            ConfFile(self.layout.redis_conf).write(self.redis_conf)
            say(f"restored {self.layout.redis_conf} as it was before this deploy")
            restart_redis(self.staged)


@contextlib.contextmanager
def restored_on_failure(layout: Layout, staged: bool = True) -> Iterator[Snapshot]:
    """Env file and redis.conf changes of a deploy that fails are undone (the error goes on)."""
    snapshot = Snapshot(layout, staged)
    try:
        yield snapshot
    except BaseException:  # a step that crashed, or Ctrl-C, leaves the files as they were too
        snapshot.restore()
        raise


def deploy(layout: Layout, manager: ServiceManager, args: argparse.Namespace) -> None:
    staged = isinstance(manager, Staged)
    source = _source(args)  # every check of the project before anything is written
    check_one_store(layout, args.redis, args.postgres)
    # Refuses a name deploy did not create, before anything is written; under DESTDIR the host is the stage.
    ownership.claim(layout, staged=layout.root != Path("/"))
    ensure_user(layout, staged)
    with restored_on_failure(layout, staged) as snapshot:
        install_env(layout, args.bind or f"127.0.0.1:{args.port}", layout.app, args.jobs)
        env_changed = False  # the service reads its env file only when it starts
        if args.redis.startswith(("redis://", "rediss://")):
            env_changed = point_at_redis(layout, args.redis)
        if args.redis == "local":
            env_changed = setup_local_redis(layout, staged)
        if args.postgres:
            env_changed = point_at_postgres(layout, args.postgres)
        # An env file on PostgreSQL needs the driver in every release, POSTGRES= given again or not.
        postgres = uses_postgres(read_env(layout.env_file))
        release = build_release(layout, release_id(args.python, source, postgres), args.python, source, postgres)
        earlier = os.readlink(layout.previous) if layout.previous.is_symlink() else None
        switched = switch(layout, release)
        limits = Limits(args.memory_max, args.tasks_max, args.limit_nofile)
        unit_changed = install_unit(layout, args.redis == "local", source.exec_start(), args.health_prefix, limits)
        say(network_note(read_env(layout.env_file)))
        manager.install(unit_changed)
        prune(layout)
        if not (switched or unit_changed or env_changed) and manager.active():
            say("nothing changed; the service keeps running")
            return
        if staged:
            say(f"staged in {layout.root}")
            return
        say("restarting the service")
        manager.restart()
        problem = health_check(layout, args.health_timeout, manager.failed)
        if problem is None:
            return
        if not switched or not layout.previous.is_symlink():
            raise DeployError(
                f"the service is {problem}; no previous release to return to. See the logs: journalctl -u {layout.app}"
            )
        say(f"{problem}; rolling back")
        _symlink(layout.current, Path(os.readlink(layout.previous)))
        if earlier is None:  # the failed release must not become the rollback target
            layout.previous.unlink()
        else:
            _symlink(layout.previous, Path(earlier))
        snapshot.restore()  # before the restart: the old release gets its old settings
        manager.restart()
        raise DeployError(
            f"the new release {release.name} was {problem}; rolled back to "
            f"{Path(os.readlink(layout.current)).name}. See the logs: journalctl -u {layout.app}"
        )


def rollback(layout: Layout, manager: ServiceManager, args: argparse.Namespace) -> None:
    ownership.owned(layout)
    if (
        not layout.previous.is_symlink()
        or not layout.current.is_symlink()
        or os.readlink(layout.previous) == os.readlink(layout.current)
    ):
        raise DeployError(f"no previous release to roll back to in {layout.opt}")
    current, previous = os.readlink(layout.current), os.readlink(layout.previous)
    _symlink(layout.current, Path(previous))
    _symlink(layout.previous, Path(current))
    say(f"current -> {previous} (was {current})")
    manager.restart()
    problem = health_check(layout, args.health_timeout, manager.failed) if not isinstance(manager, Staged) else None
    if problem:
        raise DeployError(f"after rollback the service is {problem}; see journalctl -u {layout.app}")


def undeploy(layout: Layout, manager: ServiceManager, args: argparse.Namespace) -> None:
    """Remove what the ownership record lists, and nothing else (PURGE: the settings, state and user too)."""
    record = ownership.owned(layout)
    staged = isinstance(manager, Staged)
    if ownership.listed_unit(layout, record):
        manager.stop()
        manager.disable()
        layout.unit.unlink(missing_ok=True)
        manager.forget_unit()  # daemon-reload once the unit file is gone
    if ownership.listed(layout, record, layout.opt):
        _remove_releases(layout)
    if not args.purge:
        say(f"kept {layout.etc} and {layout.state} (PURGE=1 removes them)")
        return
    remove_local_redis(layout, staged)
    if layout.env_file.is_file() and uses_postgres(read_env(layout.env_file)):
        say("the app's schema in PostgreSQL stays (its run history, pauses): DROP SCHEMA ... CASCADE removes it")
    for directory in (layout.state, layout.etc):  # etc last: it holds the record
        if ownership.listed(layout, record, directory):
            _remove_own(layout, directory)
            say(f"purged {directory}")
        elif directory.exists():
            say(f"kept {directory}: deploy did not create it")
    if record.user_created and not staged and layout.root == Path("/"):
        subprocess.run(["userdel", layout.app], capture_output=True)
        say(f"removed the user {layout.app}")
    elif not staged:
        say(f"kept the user {layout.app}: deploy did not create it")


def _remove_releases(layout: Layout) -> None:
    """Remove what deploy put in /opt/<app> (releases and their links) and the directory if then
    empty; anything else there (a project kept in it, say) stays."""
    _remove_own(layout, layout.releases)
    for link in (layout.current, layout.previous, *(layout.opt.glob(".*.new") if layout.opt.is_dir() else ())):
        if link.is_symlink():
            link.unlink()
    try:
        layout.opt.rmdir()
        say(f"removed the service and {layout.opt}")
    except FileNotFoundError:
        say("removed the service")
    except OSError:
        kept = ", ".join(sorted(path.name for path in layout.opt.iterdir()))
        say(f"removed the service and its releases; kept {layout.opt}, which holds what deploy did not put: {kept}")


def _remove_own(layout: Layout, path: Path) -> None:
    """Remove one of the app's own directories, and nothing else, whatever the layout says."""
    own = {layout.releases, layout.etc, layout.state}
    named = path.name == layout.app or path == layout.releases
    if path not in own or not named or not APP_NAME.match(layout.app) or path.is_symlink():
        raise DeployError(f"refusing to remove {path}: it is not one of {layout.app}'s own directories")
    shutil.rmtree(path, ignore_errors=True)


def cli(layout: Layout, manager: ServiceManager, args: argparse.Namespace) -> None:
    """``python -m scheduler_proc ARGS`` as the service runs it: its user, its env file, its directories.

    The CLI trusts the host lock's directory only when it is the service's own; run any
    other way, it would look in another directory (or refuse).
    """
    python = layout.current / "venv/bin/python"
    if not python.exists() or not layout.env_file.exists():
        raise DeployError(f"{layout.app} is not deployed here ({python} or {layout.env_file} is missing)")
    user = pwd.getpwnam(layout.app) if not isinstance(manager, Staged) else None
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(layout.state),
        "RUNTIME_DIRECTORY": str(layout.at(f"/run/{layout.app}")),
        "STATE_DIRECTORY": str(layout.state),
        **read_env(layout.env_file),
    }
    command = [str(python), "-m", "scheduler_proc", *args.cli_args]
    if user is not None and os.geteuid() != user.pw_uid:
        command = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", *command]
    os.chdir(layout.current)
    os.execvpe(command[0], command, env)


def _manager(layout: Layout, staged: bool) -> ServiceManager:
    return Staged() if staged else Systemd(layout.app)


def _app_name(raw: str) -> str:
    if not APP_NAME.match(raw):
        raise argparse.ArgumentTypeError(
            f"{raw!r} is not a usable app name: it names the service, its user and /opt/<app>, /etc/<app>, "
            "/var/lib/<app>; use 1-32 lowercase letters, digits, '-' or '_', starting with a letter (APP=myapp)"
        )
    return raw


#: Ports below this need privileges the unit does not give (no capabilities, a plain user).
FIRST_UNPRIVILEGED_PORT = 1024
_HOST_NAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)


def _port_number(raw: str, example: str) -> int:
    """An ASCII-digit port from 1024 to 65535 (a digit of another script is not a digit here)."""
    if not re.fullmatch(r"[0-9]{1,5}", raw) or not 1 <= int(raw) <= 65535:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a TCP port; use a number from 1024 to 65535 ({example})")
    if int(raw) < FIRST_UNPRIVILEGED_PORT:
        raise argparse.ArgumentTypeError(
            f"port {raw} is below 1024: the service runs without privileges (no capabilities, its own user), so it "
            f"could not listen there; use {example} and let a reverse proxy serve 80/443"
        )
    return int(raw)


def _port(raw: str) -> int:
    return _port_number(raw, "PORT=8000")


def _destdir(raw: str) -> str:
    if raw and Path(raw).resolve() == Path("/"):
        raise argparse.ArgumentTypeError("DESTDIR=/ is the machine itself; leave DESTDIR unset to install for real")
    if raw and ("\n" in raw or not raw.strip()):
        raise argparse.ArgumentTypeError(f"{raw!r} is not a directory name; use DESTDIR=/tmp/stage")
    return raw


def _redis(raw: str) -> str:
    if raw in ("", "local"):
        return raw
    try:
        parts = urllib.parse.urlsplit(raw)
        valid = parts.scheme in ("redis", "rediss") and bool(parts.hostname) and parts.port != 0
    except ValueError:
        valid = False
    if not valid or any(c in raw for c in "\n\r "):
        raise argparse.ArgumentTypeError(
            "REDIS must be local (install one here) or a URL such as redis://:password@10.0.0.5:6379/0"
        )
    # The env file gets the decoded user name and password: check them as they will be written.
    for what, value in (("user name", parts.username), ("password", parts.password)):
        if value is not None and UNSAFE_IN_ENV.search(urllib.parse.unquote(value)):
            raise argparse.ArgumentTypeError(
                f"REDIS: the URL's {what} holds a control character, a quote or a backslash once decoded "
                "(a percent-encoded newline such as %0A, say), which the env file cannot carry; choose one of "
                "printable characters without quotes or backslashes (percent-encode only @ : / % in it)"
            )
    return raw


def _postgres(raw: str) -> str:
    if raw == "":
        return raw
    try:
        parse_url(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return raw


def _bind(raw: str) -> str:
    if raw == "":
        return raw
    host, _, port = raw.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    try:
        valid_host = bool(ipaddress.IPv6Address(host[1:-1])) if bracketed else bool(_HOST_NAME.fullmatch(host))
    except ValueError:
        valid_host = False
    if not valid_host:
        raise argparse.ArgumentTypeError(
            f"BIND {raw!r}: {host!r} is not a host name or IP address; use for example BIND=0.0.0.0:8000 "
            "or BIND=[::1]:8000"
        )
    if not re.fullmatch(r"[0-9]{1,5}", port):
        raise argparse.ArgumentTypeError(f"{raw!r} is not host:port; use for example BIND=0.0.0.0:8000")
    _port_number(port, "BIND=0.0.0.0:8000")
    return raw


def _health_timeout(raw: str) -> float:
    value = float(raw) if re.fullmatch(r"[0-9]{1,4}(\.[0-9]+)?", raw) else math.nan
    if not 1 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number of seconds from 1 to 3600 (--health-timeout 60)")
    return value


def _memory_max(raw: str) -> str:
    if not re.fullmatch(r"[1-9][0-9]{0,5}[KMGT]|infinity", raw):
        raise argparse.ArgumentTypeError(
            f"{raw!r} is not a memory size such as 512M, 2G or infinity (MEMORY_MAX=1G: systemd's MemoryMax)"
        )
    return raw


def _tasks_max(raw: str) -> str:
    if raw != "infinity" and not (re.fullmatch(r"[0-9]{1,6}", raw) and 16 <= int(raw) <= 100000):
        raise argparse.ArgumentTypeError(
            f"{raw!r} is not a number of tasks from 16 to 100000 or infinity (TASKS_MAX=512: systemd's TasksMax)"
        )
    return raw


def _limit_nofile(raw: str) -> str:
    if not (re.fullmatch(r"[0-9]{4,7}", raw) and 1024 <= int(raw) <= 1048576):
        raise argparse.ArgumentTypeError(
            f"{raw!r} is not a number of open files from 1024 to 1048576 (LIMIT_NOFILE=16384: systemd's LimitNOFILE)"
        )
    return raw


def _python(raw: str) -> str:
    if not raw.startswith("/") or not os.path.isfile(raw) or not os.access(raw, os.X_OK):
        raise argparse.ArgumentTypeError(
            f"{raw!r} is not an executable given by its absolute path (a file, not a directory); "
            "use DEPLOY_PYTHON=/usr/bin/python3"
        )
    return raw


def _directory(raw: str, fix: str) -> Path:
    if "\n" in raw or not raw.strip() or not Path(raw).is_dir():
        raise argparse.ArgumentTypeError(f"{raw!r} is not a directory; {fix}")
    return Path(raw).resolve()


def _project(raw: str) -> Path:
    return _directory(raw, "give your project's directory, the one with its requirements (PROJECT=/path)")


#: package.module:attribute, or a factory call package.module:create_app() (gunicorn takes both).
_APP_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*(\(\))?$")


def _asgi(raw: str) -> str:
    if raw == "":  # the default, and an empty make variable: not given
        return raw
    if not _APP_PATH.match(raw):
        raise argparse.ArgumentTypeError(
            f"{raw!r} is not an app path; use package.module:attribute, for example ASGI=shop.main:app"
        )
    return raw


def _jobs(raw: str) -> str:
    if raw == "":  # the default, and an empty make variable: not given
        return raw
    try:
        return JOBS.parse(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a jobs path: {exc} (JOBS=shop.jobs:jobs)") from None


def _find_links(raw: str) -> str:
    if raw == "":  # the default, and an empty make variable: not given
        return raw
    return str(_directory(raw, "give a directory of wheels, such as WHEELS=/srv/wheels (pip wheel -w DIR ...)"))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scheduler-proc deploy",
        description=__doc__.split("\n\n")[0].replace("``", ""),
        epilog="`make lock` pins the kit's own requirements (template mode); with --project, the project's "
        "requirements.lock (else requirements.txt) is what is installed.",
    )
    parser.add_argument("action", nargs="?", default="deploy", choices=["deploy", "rollback", "undeploy", "cli"])
    parser.add_argument("cli_args", nargs="*", help="with cli: the arguments of python -m scheduler_proc")
    parser.add_argument("--app", default="scheduler-demo", type=_app_name)
    parser.add_argument("--destdir", default="", type=_destdir)
    parser.add_argument(
        "--redis",
        default=os.environ.get("REDIS", ""),
        type=_redis,
        help="local, or redis://:password@host:port/db (default $REDIS: a password stays out of the process list)",
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("POSTGRES", ""),
        type=_postgres,
        help="postgresql://user:password@host:5432/dbname: cluster mode on that PostgreSQL, instead of Redis "
        "(default $POSTGRES: a password stays out of the process list)",
    )
    parser.add_argument("--bind", default="", type=_bind, help="BIND of a new env file (default 127.0.0.1:PORT)")
    parser.add_argument("--port", type=_port, default=8000)
    parser.add_argument("--python", default="/usr/bin/python3", type=_python)
    parser.add_argument("--health-timeout", type=_health_timeout, default=60.0)
    limits = parser.add_argument_group("the unit's resource limits")
    limits.add_argument("--memory-max", default=Limits.memory_max, type=_memory_max, help="MemoryMax (MEMORY_MAX=)")
    limits.add_argument("--tasks-max", default=Limits.tasks_max, type=_tasks_max, help="TasksMax (TASKS_MAX=)")
    limits.add_argument("--limit-nofile", default=Limits.nofile, type=_limit_nofile, help="LimitNOFILE (LIMIT_NOFILE=)")
    parser.add_argument("--purge", action="store_true")
    project = parser.add_argument_group("project mode (your own FastAPI project instead of the kit's demo app)")
    project.add_argument(
        "--project",
        type=_project,
        help="ship this directory (git ls-files in a work tree) and install its requirements.lock, else "
        "requirements.txt, which must name scheduler-proc (PROJECT=)",
    )
    project.add_argument("--asgi", default="", type=_asgi, help="the app gunicorn serves, shop.main:app (ASGI=)")
    project.add_argument("--jobs", default="", type=_jobs, help="SCHEDULER_JOBS of a new env file (JOBS=)")
    parser.add_argument(
        "--find-links", default="", type=_find_links, help="a directory of wheels pip may install from (WHEELS=)"
    )
    parser.add_argument(
        "--health-prefix",
        default=DEFAULT_PREFIX,
        type=parse_prefix,
        help="where the app mounts the kit's router: readiness is PREFIX/livez, PREFIX/readyz (HEALTH_PREFIX=)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """``scheduler-proc deploy ARGS``: 0 done, 1 a step failed (the message says how to fix it), 2 bad usage."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.action == "deploy" and args.project and not args.jobs:
        parser.error("argument --jobs: required with --project: the jobs of your project (JOBS=shop.jobs:jobs)")
    if args.action == "deploy" and args.redis and args.postgres:
        parser.error("REDIS and POSTGRES are both given; the cluster coordinates through one store: give one")
    if args.action == "deploy" and not args.project and (args.asgi or args.jobs):
        parser.error(
            f"argument {'--asgi' if args.asgi else '--jobs'}: only with --project (PROJECT=/path); "
            "without it the kit's demo app is deployed"
        )
    staged = bool(args.destdir)
    if not staged and os.geteuid() != 0 and args.action != "cli":
        print(
            "deploy: must run as root (it creates a user and installs a systemd unit); use sudo, "
            "or DESTDIR=<dir> to stage the install",
            file=sys.stderr,
        )
        return 2
    layout = Layout(Path(args.destdir or "/").resolve(), args.app)
    os.umask(0o022)  # a release and its venv: no group or world write, whatever the caller's umask
    try:
        manager = _manager(layout, staged)
        action = {"deploy": deploy, "rollback": rollback, "undeploy": undeploy, "cli": cli}[args.action]
        with contextlib.ExitStack() as stack:
            if action is not cli:
                stack.enter_context(ownership.deploy_lock(layout))
            action(layout, manager, args)
    except DeployError as exc:
        print(f"deploy: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
