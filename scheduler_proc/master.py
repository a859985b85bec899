"""The gunicorn master's side: start, signal and stop the supervisor from the hooks.

The master only spawns a fresh interpreter and sends it signals: it never imports
the jobs module, never starts a thread, and never runs a job.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn, Protocol

from scheduler_proc.errors import SchedulerError
from scheduler_proc.procutil import SupervisorHandle, kill_quietly, wait_report
from scheduler_proc.securedir import ensure_private_dir
from scheduler_proc.settings import Settings, unknown_variable_warnings

# Variables that describe the master's own sockets and service manager link; the
# scheduler must not inherit them (it would look like a second gunicorn to systemd).
_PRIVATE_TO_MASTER = ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "GUNICORN_FD", "GUNICORN_PID")
_EXIT_MARGIN = 5.0


class Arbiter(Protocol):
    """The parts of gunicorn's Arbiter the hooks use."""

    cfg: Any
    log: Any
    pidfile: Any
    pid: int


class MasterSide:
    """State kept across gunicorn's config re-execution (this module is imported once)."""

    def __init__(self) -> None:
        self.handle: SupervisorHandle | None = None
        self.settings: Settings | None = None
        self.grace = 30.0

    def on_starting(self, server: Arbiter) -> None:
        """Validate settings and jobs, then start the supervisor; refuse to start on bad input."""
        for warning in unknown_variable_warnings():
            server.log.warning("scheduler: %s", warning)
        try:
            settings = Settings.from_env()
            if not settings.enabled:
                server.log.info("scheduler: SCHEDULER_ENABLED is false; no scheduler on this host")
                return
            ensure_private_dir(settings.lock_dir, "SCHEDULER_LOCK_DIR")
            ensure_private_dir(settings.state_dir, "SCHEDULER_STATE_DIR")
        except SchedulerError as exc:
            _refuse(server, str(exc))
        self.settings = settings
        self.grace = settings.stop_grace if settings.stop_grace is not None else float(server.cfg.graceful_timeout)
        self.handle, report = self._spawn(server, settings, wait=True)
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
        graceful shutdown. The handler chains to gunicorn's own.
        """
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            previous = signal.getsignal(sig)
            signal.signal(sig, functools.partial(self._on_stop_signal, previous))

    def on_reload(self, server: Arbiter) -> None:
        """HUP: the supervisor loads the jobs module anew and swaps runners if it is valid."""
        if self.settings is None:
            return
        if self.handle is not None and not self.handle.wait(0):
            kill_quietly(self.handle.pid, signal.SIGHUP)
            return
        server.log.warning("scheduler: supervisor is not running; starting a new one")
        if self.handle is not None:
            self.handle.close()
        self.handle, _ = self._spawn(server, self.settings, wait=False)

    def on_exit(self, server: Arbiter) -> None:
        """Wait for the scheduler side to finish its running jobs, then make sure nothing is left."""
        self._stop(server, fast=False)

    def _on_stop_signal(self, previous: Any, signum: int, frame: FrameType | None) -> None:
        if self.handle is not None:
            self.handle.request_stop()
        if callable(previous):
            previous(signum, frame)

    def _spawn(self, server: Arbiter, settings: Settings, wait: bool) -> tuple[SupervisorHandle, dict[str, Any] | None]:
        env = {k: v for k, v in os.environ.items() if k not in _PRIVATE_TO_MASTER}
        extra_paths = [p for p in (server.cfg.pythonpath or "").split(",") if p]
        if extra_paths:
            env["PYTHONPATH"] = os.pathsep.join([*extra_paths, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        handle, reports = SupervisorHandle.start(self.grace, env=env, cwd=Path(server.cfg.chdir))
        report = wait_report(reports, settings.start_timeout + _EXIT_MARGIN) if wait else None
        reports.close()
        return handle, report

    def _stop(self, server: Arbiter, fast: bool) -> None:
        handle, self.handle = self.handle, None
        if handle is None:
            return
        handle.request_stop()
        timeout = 0.0 if fast else self.grace + _EXIT_MARGIN
        if not handle.wait(timeout) and not fast:
            server.log.error("scheduler: supervisor pid %d did not stop within %gs; killing it", handle.pid, timeout)
        handle.kill_group()
        handle.wait(1.0)
        handle.close()


def _refuse(server: Arbiter, message: str) -> NoReturn:
    """Stop gunicorn before it serves: gunicorn prints 'Error: <message>' and exits 1."""
    if server.pidfile is not None:
        server.pidfile.unlink()
    logging.shutdown()
    raise RuntimeError(f"scheduler: {message}")
