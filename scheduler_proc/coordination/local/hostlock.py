"""The host lock: an fcntl lock file that lets one scheduler per host and namespace run jobs."""

from __future__ import annotations

import fcntl
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from scheduler_proc.errors import HostLockError, UnreadableData
from scheduler_proc.formats.holder import HolderRecord, decode_holder, encode_holder
from scheduler_proc.formats.validate import Source
from scheduler_proc.identity import AppIdentity
from scheduler_proc.securedir import open_regular

_OPEN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
#: A path check that passed stands this long (monotonic seconds). Every fire re-checks
#: the lock right before it starts; in a burst of 10,000 fires two syscalls each showed up
#: in the profile. Releasing the lock ends validity at once; only a file swapped on disk
#: by someone else is seen up to this late, and a fire started meanwhile was still claimed
#: once in the ledger (each fire has one claim), so it cannot also run elsewhere.
_PATH_CHECK_STANDS = 0.02
#: For the decoder; its message is not shown (a record that cannot be read is as good as none).
_RECORD = Source("host lock record", "the lock counts as held by nobody it can name")
#: Tries at a held lock's record before calling it unreadable (a rewrite takes microseconds).
_READS_OF_A_RECORD = 3


@dataclass(frozen=True)
class Holder:
    """Who holds the host lock, as written into the lock file for humans and status pages."""

    pid: int
    node: str
    since: float
    master_pid: int = 0
    lease: str | None = None  # the cluster lease token it held, so a successor on this host can give it up
    runs: str | None = None  # the run-id prefix of its process: its running markers stop counting when it dies
    jobs: str | None = None  # its app: SCHEDULER_JOBS ...
    directory: str | None = None  # ... and the directory it runs in (see scheduler_proc.identity)

    def describe(self) -> str:
        return f"pid {self.pid} (node {self.node})"


class HostLock:
    """Exclusive ``flock`` on one file; the kernel drops it when the holder dies.

    The file is opened without following symlinks and kept at mode 0600. After
    locking, the path is checked to still name the locked inode: if someone deleted
    and recreated the file, a second process could lock the new one, so we retry.
    """

    def __init__(
        self, path: Path, node: str, master_pid: int = 0, runs: str | None = None, app: AppIdentity | None = None
    ) -> None:
        self.path = path
        self.node = node
        self.master_pid = master_pid
        self.runs = runs
        self.app = app
        self._fd: int | None = None
        self._lease: str | None = None
        self._path_checked_until = 0.0
        #: The record a holder that died left in the file, read when we took the lock.
        self.previous: Holder | None = None

    def __enter__(self) -> HostLock:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lock if it is free; never blocks."""
        if self._fd is not None:
            return True
        fd = _open_lock_file(self.path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        if not _names_same_file(self.path, fd):
            os.close(fd)
            return False
        self._fd = fd
        self.previous = _parse(os.pread(fd, 4096, 0))  # a clean release leaves the file empty
        self._lease = None
        self._write_holder()
        return True

    def record_lease(self, token: str | None) -> None:
        """Write the cluster lease token we hold (or None) into the record, for whoever takes the lock after us."""
        if self._fd is not None and token != self._lease:
            self._lease = token
            self._write_holder()

    def still_valid(self) -> bool:
        """True while we hold the lock and the path still names the locked file (job threads call it too)."""
        fd = self._fd  # read once: another thread may release it meanwhile
        if fd is None:
            return False
        now = time.monotonic()
        if now < self._path_checked_until:
            return True
        try:
            valid = _names_same_file(self.path, fd)
        except OSError:  # closed meanwhile
            return False
        if valid and self._fd == fd:
            self._path_checked_until = now + _PATH_CHECK_STANDS
        return valid

    def touch(self) -> None:
        """Refresh the file's times so age-based temp cleaners leave it alone."""
        if self._fd is not None:
            os.utime(self._fd)

    def release(self) -> None:
        """Drop the lock (closing the descriptor releases the flock)."""
        fd, self._fd = self._fd, None
        self._path_checked_until = 0.0
        if fd is not None:
            os.ftruncate(fd, 0)
            os.close(fd)

    def _write_holder(self) -> None:
        assert self._fd is not None
        record = HolderRecord(
            pid=os.getpid(),
            node=self.node,
            since=time.time(),
            master_pid=self.master_pid,
            lease=self._lease,
            runs=self.runs,
            jobs=self.app.jobs if self.app else None,
            directory=self.app.directory if self.app else None,
        )
        data = encode_holder(record)
        # Over the old record, then cut what is left of it: a reader never finds the file empty
        # (which means "nobody holds it") while we hold it. Readers take the first line.
        os.pwrite(self._fd, data, 0)
        os.ftruncate(self._fd, len(data))


def read_holder(path: Path) -> Holder | None:
    """The current holder of the lock at ``path``, or None when nobody holds it."""
    for _ in range(_READS_OF_A_RECORD):  # a read that overlaps the holder's rewrite may find it torn
        held, raw = _peek(path)
        holder = _parse(raw) if held else None
        if holder is not None or not held or not raw:
            return holder
    return None


def read_abandoned(path: Path) -> Holder | None:
    """The record a holder that died left behind, or None when the lock is held or was released cleanly.

    Nobody holds the flock, so its last holder is gone: a process on this host may act
    for it (give up the lease it held).
    """
    held, raw = _peek(path)
    return None if held or not raw else _parse(raw)


def _peek(path: Path) -> tuple[bool, bytes]:
    """Whether someone holds the lock at ``path`` (without taking it), and the record in the file."""
    fd = open_regular(path, "host lock")  # a FIFO, directory or symlink there is refused, never waited on
    if fd is None:
        return False, b""
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True, os.pread(fd, 4096, 0)  # held exclusively: the record is live
        return False, os.pread(fd, 4096, 0)
    finally:
        os.close(fd)


def _parse(raw: bytes) -> Holder | None:
    """The holder in a lock file's record; None for one that cannot be read (torn, or not the kit's)."""
    try:
        record = decode_holder(raw, _RECORD)
    except UnreadableData:
        return None
    return Holder(
        pid=record["pid"],
        node=record["node"],
        since=record["since"],
        master_pid=record.get("master_pid", 0),
        lease=record.get("lease") or None,
        runs=record.get("runs") or None,
        jobs=record.get("jobs") or None,
        directory=record.get("directory") or None,
    )


def _open_lock_file(path: Path) -> int:
    try:
        fd = os.open(path, _OPEN_FLAGS, 0o600)
    except OSError as exc:
        raise HostLockError(
            f"host lock {path} cannot be opened ({exc.strerror}); "
            "check SCHEDULER_LOCK_DIR (a symlink at this path is refused)"
        ) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
        os.close(fd)
        raise HostLockError(f"host lock {path} is not a regular file owned by uid {os.geteuid()}; remove it")
    if stat.S_IMODE(st.st_mode) != 0o600:
        os.fchmod(fd, 0o600)
    return fd


def _names_same_file(path: Path, fd: int) -> bool:
    try:
        on_disk = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (mine.st_dev, mine.st_ino)
