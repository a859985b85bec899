"""What deploy created on this host: the ownership record, and the checks that keep deploy off everything else.

The first deploy of an app writes ``/etc/<app>/.deployed-by-scheduler-proc`` (root, 0600,
JSON): the app, its user, whether deploy created that user, the unit and the directories
deploy made. Every later deploy, rollback and undeploy reads it first; without it, an app
name that is already a user, a group, a unit or a directory on this host is refused, so
``--app redis`` can never remove, stop, disable or take over what the system's redis owns.
Undeploy removes only what the record lists.

Staged (DESTDIR), the host is the stage: its ``etc/passwd`` and ``etc/group`` and its tree.
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import os
import pwd
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from scheduler_proc.deploy.layout import DeployError, Layout, say
from scheduler_proc.errors import UnreadableData
from scheduler_proc.formats.ownership import OwnershipRecord, decode_ownership, encode_ownership
from scheduler_proc.formats.validate import Source

RECORD_NAME = ".deployed-by-scheduler-proc"
#: Where systemd looks for units, in the order it prefers them.
UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system")
#: The unit header of every deploy before the record existed: such an install is adopted once.
LEGACY_HEADER = "# Installed by `make deploy`"
#: One deploy at a time per host (or per stage), in a root-owned directory.
LOCK = "/run/scheduler-proc-deploy.lock"


@dataclass(frozen=True)
class Record:
    """What deploy created for one app (paths as on the host, not prefixed by DESTDIR)."""

    app: str
    user: str
    user_created: bool
    unit: str
    dirs: tuple[str, ...]


def record_path(layout: Layout) -> Path:
    return layout.etc / RECORD_NAME


def _absolute(layout: Layout, path: Path) -> str:
    return "/" + str(path.relative_to(layout.root))


def load(layout: Layout) -> Record | None:
    """The app's record, None if it has none; DeployError if it is not one deploy could have written."""
    path = record_path(layout)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DeployError(
            f"{path} cannot be read safely ({exc.strerror}); remove it if deploy did not write it"
        ) from None
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(handle.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o077:
            raise DeployError(f"{path} is not a root-owned 0600 file, so deploy did not write it; refusing")
        try:
            data = decode_ownership(handle.read(65536), Source(str(path), "deploy did not write it: refusing"))
        except UnreadableData as exc:
            raise DeployError(str(exc)) from None
        record = Record(data["app"], data["user"], data["user_created"], data["unit"], tuple(data["dirs"]))
    if record.app != layout.app:
        raise DeployError(f"{path} records the app {record.app!r}, not {layout.app!r}; refusing")
    return record


def save(layout: Layout, record: Record) -> None:
    """Write the record atomically, root-owned 0600, never through a link."""
    path = record_path(layout)
    tmp = path.with_name(f".{RECORD_NAME}.new")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    data = OwnershipRecord(
        app=record.app, user=record.user, user_created=record.user_created, unit=record.unit, dirs=list(record.dirs)
    )
    with os.fdopen(fd, "wb") as handle:
        handle.write(encode_ownership(data))
        os.fchown(handle.fileno(), 0, 0)
    os.replace(tmp, path)


def _names_in(path: Path) -> set[str]:
    try:
        return {line.split(":", 1)[0] for line in path.read_text().splitlines() if ":" in line}
    except FileNotFoundError:
        return set()


def _user_or_group(layout: Layout, name: str, staged: bool) -> str | None:
    """Which account of that name exists on the host ("the system user 'x'"), None if none."""
    if staged:
        users, groups = _names_in(layout.at("/etc/passwd")), _names_in(layout.at("/etc/group"))
    else:
        users = {name} if _exists(pwd.getpwnam, name) else set()
        groups = {name} if _exists(grp.getgrnam, name) else set()
    if name in users:
        return f"the system user {name!r} exists"
    if name in groups:
        return f"the group {name!r} exists"
    return None


def _exists(lookup: Callable[[str], object], name: str) -> bool:
    try:
        lookup(name)
    except KeyError:
        return False
    return True


def _foreign(layout: Layout, staged: bool) -> list[str]:
    """Everything on the host that carries the app's name and that deploy would touch."""
    found = [reason] if (reason := _user_or_group(layout, layout.app, staged)) else []
    for directory in UNIT_DIRS:
        unit = layout.at(f"{directory}/{layout.app}.service")
        if os.path.lexists(unit):
            found.append(f"the unit {unit} exists")
    for path in (layout.opt, layout.etc, layout.state):
        if os.path.lexists(path):
            found.append(f"{path} exists")
    return found


def _legacy(layout: Layout) -> bool:
    """An install by a deploy from before the record: our unit header, an env file and a current release."""
    try:
        header = layout.unit.read_text().startswith(LEGACY_HEADER)
    except OSError:
        return False
    return header and layout.env_file.is_file() and layout.current.is_symlink()


def _refuse(layout: Layout, reasons: list[str]) -> DeployError:
    return DeployError(
        f"--app {layout.app}: {'; '.join(reasons)}, not created by make deploy (there is no "
        f"{record_path(layout)}); deploy never removes, stops or takes over what it did not create: "
        "choose another APP"
    )


def claim(layout: Layout, staged: bool) -> Record:
    """The app's record for a deploy: the one there, or a new one when nothing of that name exists yet."""
    record = load(layout)
    if record is not None:
        return record
    if not staged and _legacy(layout):
        reasons: list[str] = []
        say(f"adopting the install of an earlier make deploy ({layout.unit} carries its header)")
    else:
        reasons = _foreign(layout, staged)
    if reasons:
        raise _refuse(layout, reasons)
    user_created = not staged and not _legacy(layout)
    dirs = tuple(_absolute(layout, path) for path in (layout.opt, layout.etc, layout.state))
    record = Record(layout.app, layout.app, user_created, _absolute(layout, layout.unit), dirs)
    layout.etc.mkdir(parents=True, exist_ok=True)
    save(layout, record)
    return record


def owned(layout: Layout) -> Record:
    """The record rollback and undeploy need; without one they touch nothing."""
    record = load(layout)
    if record is None:
        reasons = _foreign(layout, staged=layout.root != Path("/")) or [f"nothing named {layout.app!r} exists"]
        raise _refuse(layout, reasons)
    return record


def listed(layout: Layout, record: Record, path: Path) -> bool:
    """Whether deploy recorded ``path`` (a DESTDIR-prefixed path of the layout) as its own."""
    return _absolute(layout, path) in record.dirs


def listed_unit(layout: Layout, record: Record) -> bool:
    """Whether the unit file at the layout's path is the one deploy recorded."""
    return record.unit == _absolute(layout, layout.unit)


@contextlib.contextmanager
def deploy_lock(layout: Layout) -> Iterator[None]:
    """Hold the host's deploy lock (fcntl, 0600, never through a link); a second deploy is told who holds it."""
    path = layout.at(LOCK)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o600)
    except OSError as exc:
        hint = "is a symbolic link" if path.is_symlink() else f"cannot be opened ({exc.strerror})"
        raise DeployError(f"the deploy lock {path} {hint}; remove it, then deploy again") from None
    with os.fdopen(fd, "r+") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise DeployError(f"the deploy lock {path} is not a regular file; remove it, then deploy again")
        os.fchmod(fd, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = handle.read(32).strip() or "unknown"
            raise DeployError(
                f"another deploy (pid {holder}) is running on this host; wait for it to finish, then run this again"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
