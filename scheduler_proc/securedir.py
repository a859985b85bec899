"""Create or check the private directories that hold the host lock, status files and local state.

A directory is trusted when it is ours (or root's), nobody else may write to it, and no
ancestor up to ``/`` lets another user rename it away and put their own in its place (an
ancestor writable by others must have the sticky bit, like ``/tmp``). The scheduler
processes create them so; the HTTP workers and the CLI check them before they read.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from scheduler_proc.errors import LockDirError


def ensure_private_dir(path: Path, setting: str) -> Path:
    """Make sure ``path`` is a real directory owned by us that nobody else can write.

    A missing directory is created with mode 0700. An existing one is refused when it
    is a symlink, not a directory, owned by another user, not writable, or writable
    by group or others (someone else could then swap the lock file).
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        _create(path, setting)
        st = os.lstat(path)
    except OSError as exc:
        raise LockDirError(
            f"{setting}={str(path)!r} cannot be checked ({exc.strerror}); use another directory"
        ) from None
    if stat.S_ISLNK(st.st_mode):
        raise LockDirError(
            f"{setting}={str(path)!r} is a symlink to {os.readlink(path)!r}; point the setting at the real directory"
        )
    if not stat.S_ISDIR(st.st_mode):
        raise LockDirError(f"{setting}={str(path)!r} is not a directory; point it at a directory")
    uid = os.geteuid()
    if st.st_uid not in (uid, 0):
        raise LockDirError(
            f"{setting}={str(path)!r} is owned by uid {st.st_uid}, not by this user (uid {uid}); "
            "use a directory this user owns"
        )
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise LockDirError(
            f"{setting}={str(path)!r} is writable by others (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"run `chmod 700 {path}` or use a private directory"
        )
    if not st.st_mode & stat.S_IWUSR or not os.access(path, os.W_OK | os.X_OK):
        raise LockDirError(
            f"{setting}={str(path)!r} is not writable (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"run `chmod 700 {path}` or use a directory this user can write"
        )
    _check_ancestors(path, setting)
    return path


def trusted_dir(path: Path, setting: str) -> bool:
    """Check a directory a reader (an HTTP worker, the CLI) is about to trust; False if it does not exist.

    Raises LockDirError when another user could have made or swapped it: its contents
    (a lock, a status file, a command queue) would then be theirs.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    uid = os.geteuid()
    hint = (
        "run the command as the service's user with the service's directories "
        "(for a `make deploy` install: `make status APP=<app>`), or point the setting at a private directory"
    )
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise LockDirError(f"{setting}={str(path)!r} is not a real directory, so it is not trusted; {hint}")
    if st.st_uid != uid:
        raise LockDirError(
            f"{setting}={str(path)!r} belongs to uid {st.st_uid}, not to this user (uid {uid}): its files are not "
            f"trusted; {hint}"
        )
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise LockDirError(f"{setting}={str(path)!r} is writable by others, so it is not trusted; {hint}")
    _check_ancestors(path, setting)
    return True


def trusted_file(st: os.stat_result) -> bool:
    """An opened file (its fstat) a reader may trust: a regular file of this user (the scheduler writes 0600)."""
    return stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid()


def open_regular(path: Path, what: str) -> int | None:
    """Open ``path`` to read, or None if it does not exist; LockDirError unless it is a regular file.

    Never follows a symlink and never blocks: a FIFO put there would otherwise hang the
    reader (the CLI, an HTTP worker) until someone writes to it.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:  # a symlink (ELOOP), a socket (ENXIO), no permission
        raise LockDirError(_not_regular(path, what, os.lstat(path), exc.strerror)) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise LockDirError(_not_regular(path, what, st, None))
    return fd


def check_regular(path: Path, what: str) -> None:
    """Raise LockDirError unless ``path`` is missing or a regular file (a check at start, before it is used)."""
    fd = open_regular(path, what)
    if fd is not None:
        os.close(fd)


def read_trusted(path: Path) -> tuple[os.stat_result, bytes] | None:
    """The content of a file the scheduler wrote (see :func:`trusted_file`), or None if missing or not trusted.

    Status and metrics files alike: opened as :func:`open_regular` does, read whole.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    st = os.fstat(fd)
    if not trusted_file(st):
        os.close(fd)
        return None  # not a file our scheduler wrote: someone else's, a directory, a FIFO
    with os.fdopen(fd, "rb") as handle:  # the whole file: thousands of jobs make a status megabytes
        return st, handle.read()


_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFDIR: "a directory",
    stat.S_IFSOCK: "a socket",
    stat.S_IFLNK: "a symlink",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def _not_regular(path: Path, what: str, st: os.stat_result, reason: str | None) -> str:
    kind = _KINDS.get(stat.S_IFMT(st.st_mode))
    if kind is None:
        return f"{what} {path} cannot be opened ({reason}); check SCHEDULER_LOCK_DIR and the file's owner"
    return f"{what} {path} is {kind}, not a regular file; remove it (the scheduler creates the file it needs)"


def _check_ancestors(path: Path, setting: str) -> None:
    """No ancestor may let another user replace ``path``: owned by root or us, not writable by others unless sticky.

    The ancestors as the setting names them, before any symlink is resolved: a symlink among
    them is refused, as whoever may change it chooses which directory the setting means.
    """
    uid = os.geteuid()
    for ancestor in Path(os.path.abspath(path)).parents:
        st = os.lstat(ancestor)
        if stat.S_ISLNK(st.st_mode):
            raise LockDirError(
                f"{setting}={str(path)!r} lies under {ancestor}, a symlink to {os.readlink(ancestor)!r}; "
                f"point the setting at the real path ({path.resolve()})"
            )
        if st.st_uid not in (0, uid):
            raise LockDirError(
                f"{setting}={str(path)!r} lies under {ancestor}, owned by uid {st.st_uid}: that user could replace it; "
                "use a directory whose every parent belongs to root or to this user"
            )
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not st.st_mode & stat.S_ISVTX:
            raise LockDirError(
                f"{setting}={str(path)!r} lies under {ancestor}, which others may write to (mode "
                f"{stat.S_IMODE(st.st_mode):04o}, no sticky bit): they could replace it; use another directory"
            )


def _create(path: Path, setting: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(path, 0o700)
        os.chmod(path, 0o700, follow_symlinks=False)  # umask may have removed bits we want
    except FileExistsError:
        pass  # another process created it first; the caller checks it
    except OSError as exc:
        raise LockDirError(
            f"{setting}={str(path)!r} cannot be created ({exc.strerror}); "
            "create it with mode 0700 or point the setting elsewhere"
        ) from None


def write_private(path: Path, data: bytes, durable: bool = False) -> None:
    """Replace ``path`` atomically with ``data``: a 0600 temporary file (symlinks refused), then rename.

    Readers never see a half-written file; the file object writes ``data`` whole.
    ``durable`` also syncs the file and its directory, so the new content survives a power loss.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):  # a full disk must not fill up with our leftovers too
            os.unlink(tmp)
        raise
    if durable:
        directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
