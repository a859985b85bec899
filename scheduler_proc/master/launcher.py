"""The gunicorn master's side: start, signal and stop the supervisor from the hooks.

The master only spawns a fresh interpreter and sends it signals: it never imports
the jobs module, never starts a thread, and never runs a job.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn, Protocol

from scheduler_proc.backoff import RestartBackoff
from scheduler_proc.errors import SchedulerError
from scheduler_proc.logs import mask_handlers, mask_output
from scheduler_proc.procutil import ReportReader, SupervisorHandle, kill_quietly, wait_report
from scheduler_proc.securedir import ensure_private_dir
from scheduler_proc.settings import Settings, start_warnings

# Variables that describe the master's own sockets and service manager link; the
# scheduler must not inherit them (it would look like a second gunicorn to systemd).
_PRIVATE_TO_MASTER = ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "GUNICORN_FD", "GUNICORN_PID")
_EXIT_MARGIN = 5.0
_FIRST_RESPAWN_DELAY = 1.0
_MAX_RESPAWN_DELAY = 60.0


class Arbiter(Protocol):
    """The parts of gunicorn's Arbiter the hooks use."""

    cfg: Any
    log: Any
    pidfile: Any
    pid: int
    manage_workers: Callable[[], None]


class MasterSide:
    """State kept across gunicorn's config re-execution (this module is imported once)."""

    def __init__(self) -> None:
        self.handle: SupervisorHandle | None = None
        self.settings: Settings | None = None
        self.grace = 30.0
        self._spawned_at = 0.0
        self._backoff = RestartBackoff(_FIRST_RESPAWN_DELAY, _MAX_RESPAWN_DELAY)
        self._respawn_at: float | None = None
        self._reports: ReportReader | None = None  # of a supervisor started without waiting

    def on_starting(self, server: Arbiter) -> None:
        """Validate settings and jobs, then start the supervisor; refuse to start on bad input."""
        _mask_secrets(server)  # before any message: gunicorn's "Error: ..." line too
        try:
            settings = Settings.from_env()
        except SchedulerError as exc:
            for warning in start_warnings(None):  # a misspelt name often explains the error
                server.log.warning("scheduler: %s", warning)
            _refuse(server, str(exc))
        for warning in start_warnings(settings):
            server.log.warning("scheduler: %s", warning)
        try:
            if not settings.enabled:
                server.log.info("scheduler: SCHEDULER_ENABLED is false; no scheduler on this host")
                return
            ensure_private_dir(settings.lock_dir, "SCHEDULER_LOCK_DIR")
            ensure_private_dir(settings.state_dir, "SCHEDULER_STATE_DIR")
        except SchedulerError as exc:
            _refuse(server, str(exc))
        self.settings = settings
        self.grace = settings.stop_grace if settings.stop_grace is not None else float(server.cfg.graceful_timeout)
        self.handle, reports = self._start_supervisor(server)
        report = wait_report(reports, settings.start_timeout + _EXIT_MARGIN)
        reports.close()
        if report is None or report.get("event") != "valid":
            self._stop(server, fast=True)
            message = (
                report.get("message")
                if report
                else (
                    "the scheduler supervisor did not report within "
                    f"{settings.start_timeout + _EXIT_MARGIN:g}s; see the log above"
                )
            )
            _refuse(server, str(message))
        server.log.info("scheduler: supervisor pid %d started; jobs from %s", self.handle.pid, settings.jobs_ref)

    def when_ready(self, server: Arbiter) -> None:
        """Forward TERM/INT/QUIT to the supervisor the moment the master receives them.

        gunicorn has no hook between receiving a stop signal and stopping its workers,
        so without this the scheduler would keep starting fires during the workers'
        graceful shutdown. The handler chains to gunicorn's own. Also starts checking,
        once per turn of gunicorn's main loop, that the supervisor is still there.
        """
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            previous = signal.getsignal(sig)
            signal.signal(sig, functools.partial(self._on_stop_signal, previous))
        if self.settings is not None and not isinstance(server.manage_workers, _MainLoopTick):
            server.manage_workers = _MainLoopTick(
                server.manage_workers, lambda: self._respawn_if_dead(server), server.log
            )

    def on_reload(self, server: Arbiter) -> None:
        """HUP: the supervisor loads the jobs module anew and swaps runners if it is valid."""
        _mask_secrets(server)  # gunicorn made new log handlers
        if self.settings is None:
            return
        if self.handle is not None and not self.handle.wait(0):
            kill_quietly(self.handle.pid, signal.SIGHUP)
            return
        server.log.warning("scheduler: supervisor is not running; starting a new one")
        self._respawn(server)

    def on_exit(self, server: Arbiter) -> None:
        """Wait for the scheduler side to finish its running jobs, then make sure nothing is left."""
        self._stop(server, fast=False)

    def _respawn_if_dead(self, server: Arbiter) -> None:
        """Once per turn of gunicorn's main loop: start a new supervisor if ours ended unasked.

        Only kill -9 or a crash ends a supervisor that was not asked to stop; its runner
        stops with it (parent-death signal), so no job runs until this starts a new one.
        Backs off (1 s doubling to 60 s) while new ones keep ending within 30 s.
        """
        handle = self.handle
        if self.settings is None or handle is None or handle.stop_sent or not handle.wait(0):
            return
        now = time.monotonic()
        if self._respawn_at is None:
            lived = now - self._spawned_at
            delay = self._backoff.after_exit(lived)
            self._respawn_at = now + delay
            problem = self._take_reported_problem()
            what = f"could not start the scheduler: {problem}" if problem else "ended without being asked to"
            server.log.error(
                "scheduler: supervisor pid %d %s, after %.0fs; starting a new one in %gs",
                handle.pid,
                what,
                lived,
                delay,
            )
        if now >= self._respawn_at:
            new = self._respawn(server)
            server.log.info("scheduler: supervisor pid %d started in its place", new.pid)

    def _respawn(self, server: Arbiter) -> SupervisorHandle:
        """Start a supervisor without blocking gunicorn's main loop; its verdict is read if it dies."""
        if self.handle is not None:
            self.handle.close()
        self._take_reported_problem()  # closes the previous one's report pipe
        self._respawn_at = None
        self.handle, self._reports = self._start_supervisor(server)
        return self.handle

    def _on_stop_signal(self, previous: Any, signum: int, frame: FrameType | None) -> None:
        if self.handle is not None:
            self.handle.request_stop()
        if callable(previous):
            previous(signum, frame)

    def _start_supervisor(self, server: Arbiter) -> tuple[SupervisorHandle, ReportReader]:
        env = {k: v for k, v in os.environ.items() if k not in _PRIVATE_TO_MASTER}
        extra_paths = [p for p in (server.cfg.pythonpath or "").split(",") if p]
        if extra_paths:
            env["PYTHONPATH"] = os.pathsep.join([*extra_paths, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        handle, reports = SupervisorHandle.start(self.grace, env=env, cwd=Path(server.cfg.chdir))
        self._spawned_at = time.monotonic()
        return handle, reports

    def _take_reported_problem(self) -> str:
        """Why a supervisor started without waiting refused to run, if it said so."""
        reports, self._reports = self._reports, None
        if reports is None:
            return ""
        problems = [str(r.get("message")) for r in reports.poll() if r.get("event") != "valid"]
        reports.close()
        return problems[0] if problems else ""

    def _stop(self, server: Arbiter, fast: bool) -> None:
        handle, self.handle = self.handle, None
        self._take_reported_problem()  # closes a report pipe still open
        if handle is None:
            return
        handle.request_stop()
        timeout = 0.0 if fast else self.grace + _EXIT_MARGIN
        if not handle.wait(timeout) and not fast:
            server.log.error("scheduler: supervisor pid %d did not stop within %gs; killing it", handle.pid, timeout)
        handle.kill_group()
        handle.wait(1.0)
        handle.close()


class _MainLoopTick:
    """Stands in for ``Arbiter.manage_workers`` to run a check once per turn of its main loop.

    gunicorn calls no hook on a timer, but its main loop (every version we support) looks
    up and calls ``manage_workers`` about once a second, in the master's main thread: a
    place where spawning a process and logging are safe, unlike a signal handler.
    """

    def __init__(self, manage_workers: Callable[[], None], check: Callable[[], None], log: Any) -> None:
        self._manage_workers = manage_workers
        self._check = check
        self._log = log

    def __call__(self) -> None:
        self._manage_workers()
        try:
            self._check()
        except Exception:  # never break gunicorn's main loop
            self._log.exception("scheduler: checking the supervisor failed")


def _mask_secrets(server: Arbiter) -> None:
    """Mask known secrets in all the master and its workers write: gunicorn's log handlers (uvicorn's
    workers log through them), print and tracebacks. The workers gunicorn forks keep it."""
    mask_output()
    mask_handlers([server.log.error_log, server.log.access_log, logging.getLogger()])


def _refuse(server: Arbiter, message: str) -> NoReturn:
    """Stop gunicorn before it serves: gunicorn prints 'Error: <message>' and exits 1."""
    if server.pidfile is not None:
        server.pidfile.unlink()
    logging.shutdown()
    raise RuntimeError(f"scheduler: {message}")
