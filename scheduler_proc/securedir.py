"""Create or check the private directories that hold the host lock and local state."""

from __future__ import annotations

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
    return path


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
