"""Process plumbing shared by the supervisor and the runner: parent death, signals, pipes."""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO

from scheduler_proc.errors import UnreadableData
from scheduler_proc.formats.argv import REPORT_FD, encode_supervisor_args
from scheduler_proc.formats.reports import Report, decode_report, encode_report

_PR_SET_PDEATHSIG = 1
#: When the process that started a scheduler process is gone, its running jobs get at most this long.
ORPHAN_GRACE = 2.0


def die_with_parent(expected_parent: int) -> bool:
    """Ask the kernel for SIGTERM when our parent dies; False if it is already gone.

    The getppid check closes the race where the parent died before the prctl.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    return os.getppid() == expected_parent


class SignalFlags:
    """Stop and reload requests from signals, as events any thread can wait on.

    A Python signal handler runs in the main thread between two bytecodes, possibly while
    that thread holds the lock inside ``Event.wait()``; calling ``Event.set()`` there
    deadlocks the process for good (CI caught a supervisor that never stopped). So the
    handlers only note the signal and write its number to a pipe, and a relay thread
    sets the events.
    """

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.reload = threading.Event()
        self.stop_signal = 0
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._write_fd, False)
        threading.Thread(target=self._relay, name="signal-relay", daemon=True).start()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        """No locks here: a plain attribute and one write(2)."""
        if signum != signal.SIGHUP:
            self.stop_signal = self.stop_signal or signum
        with contextlib.suppress(BlockingIOError):  # a full pipe already holds a wake-up
            os.write(self._write_fd, bytes([signum]))

    def _relay(self) -> None:
        while True:
            for signum in os.read(self._read_fd, 256):
                (self.reload if signum == signal.SIGHUP else self.stop).set()


def send_report(fd: int, report: Report) -> None:
    """Write one report to a report pipe (child to parent).

    A parent that stopped listening (a respawn it does not wait for) is not an error.
    """
    with contextlib.suppress(BrokenPipeError):
        os.write(fd, encode_report(report))


class ReportReader:
    """Reads JSON lines from a report pipe without blocking."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        os.set_blocking(fd, False)
        self._buffer = b""
        self.closed = False

    def poll(self) -> list[Report]:
        """Every complete, well-formed report available now (anything else on the pipe is skipped)."""
        while not self.closed and self.fd >= 0:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                self.closed = True
                break
            self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        reports = []
        for line in lines:
            with contextlib.suppress(UnreadableData):
                reports.append(decode_report(line))
        return reports

    def close(self) -> None:
        """Close the read end (once: a second call must not close a descriptor reused since)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
            self.closed = True


def spawn_reporting_child(
    module: str,
    args: Sequence[str],
    *,
    new_session: bool = False,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    relay_output: bool = False,
) -> tuple[subprocess.Popen[bytes], ReportReader]:
    """Start ``python -m module`` as a fresh interpreter with a report pipe.

    ``close_fds`` keeps gunicorn's listening sockets out of the child; only the
    pipe's write end (passed as ``--report-fd``) is inherited. ``relay_output``: the child's
    stdout and stderr are pipes that this process copies, line by line, to its own (which
    mask known secrets): so does everything the child starts, a job's subprocess included.
    """
    read_fd, write_fd = os.pipe()
    piped = subprocess.PIPE if relay_output else None
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", module, *args, REPORT_FD, str(write_fd)],
            pass_fds=(write_fd,),
            close_fds=True,
            start_new_session=new_session,
            env=None if env is None else dict(env),
            cwd=cwd,
            stdout=piped,
            stderr=piped,
        )
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    if relay_output:
        assert child.stdout is not None and child.stderr is not None
        _relay(child.stdout, "stdout")
        _relay(child.stderr, "stderr")
    return child, ReportReader(read_fd)


_relays: list[threading.Thread] = []


def _relay(source: IO[bytes], stream: str) -> None:
    """Copy ``source`` to this process's ``sys.<stream>`` line by line, until the child closes it."""

    def copy() -> None:
        with source:
            for line in iter(source.readline, b""):
                target = getattr(sys, stream)
                try:
                    target.write(line.decode("utf-8", "replace"))
                    target.flush()
                except (OSError, ValueError):
                    return  # our own output is gone (closed at exit): nothing left to write to

    thread = threading.Thread(target=copy, name=f"relay-{stream}", daemon=True)
    _relays[:] = [relay for relay in _relays if relay.is_alive()]
    _relays.append(thread)
    thread.start()


def finish_relays(timeout: float) -> None:
    """Before this process exits: let the relays write what the children wrote last (their
    last lines, a watchdog's stack dump), for up to ``timeout`` seconds in all."""
    deadline = time.monotonic() + timeout
    for thread in list(_relays):
        thread.join(max(0.0, deadline - time.monotonic()))


def wait_report(reader: ReportReader, timeout: float, interrupted: Callable[[], bool] = lambda: False) -> Report | None:
    """The first report from a child, or None if it closed the pipe, time ran out, or we were interrupted."""
    deadline = time.monotonic() + timeout
    while not interrupted():
        reports = reader.poll()
        if reports:
            return reports[0]
        remaining = deadline - time.monotonic()
        if reader.closed or remaining <= 0:
            return None
        select.select([reader.fd], [], [], min(0.2, remaining))
    return None


def describe_exit(returncode: int | None) -> str:
    """'exited with status 1' or 'was killed by SIGKILL', for log lines."""
    if returncode is None:
        return "is still running"
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


def kill_quietly(pid: int, sig: int) -> None:
    """Send a signal; a process that is already gone is not an error."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


@dataclass
class SupervisorHandle:
    """A supervisor we started; its pidfd tells us when it ends, even after gunicorn reaped it."""

    @classmethod
    def start(
        cls, default_grace: float, *, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> tuple[SupervisorHandle, ReportReader]:
        """Start ``python -m scheduler_proc.supervisor`` for this process, in a session of its own.

        The caller reads the first report (jobs valid or not) from the returned reader.
        """
        popen, reports = spawn_reporting_child(
            "scheduler_proc.supervisor",
            encode_supervisor_args(os.getpid(), default_grace),
            new_session=True,
            env=env,
            cwd=cwd,
        )
        # Opened right after the fork: nothing can have reaped the child and reused its pid yet.
        return cls(popen, os.pidfd_open(popen.pid)), reports

    popen: subprocess.Popen[bytes]  # kept only so Python does not warn; never polled
    pidfd: int
    stop_sent: bool = False

    @property
    def pid(self) -> int:
        return self.popen.pid

    def wait(self, timeout: float) -> bool:
        """True once the process has ended (within ``timeout`` seconds)."""
        return bool(select.select([self.pidfd], [], [], max(0.0, timeout))[0])

    def request_stop(self) -> None:
        """Ask for a graceful stop once; safe to call from a signal handler (one kill(2))."""
        if not self.stop_sent:
            self.stop_sent = True
            kill_quietly(self.pid, signal.SIGTERM)

    def session_alive(self) -> bool:
        """True while any process of the supervisor's session (its runners, jobs' children) lives."""
        try:
            os.killpg(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def kill_group(self) -> None:
        """SIGKILL the supervisor's whole session: runners and anything jobs started."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    def close(self) -> None:
        os.close(self.pidfd)
