"""Without gunicorn: a FastAPI lifespan that runs the scheduler side from one worker per host.

``uvicorn app.main:app --workers 3`` and ``fastapi run --workers 3`` start each worker as a
fresh process with no hooks in a master. Every worker's lifespan competes for an owner
lock; the one that holds it starts the same supervisor the gunicorn hooks start (a fresh
interpreter in its own session), so the host lock, the ledger and the Redis lease give
the same guarantees. When that worker dies, another takes the owner lock within a second
and starts a new supervisor; when the supervisor itself dies, its worker starts a new one
(1 s, doubling to 60 s while new ones keep dying). Under the kit's gunicorn.conf.py it
does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, NoReturn

from scheduler_proc.backoff import RestartBackoff
from scheduler_proc.coordination.local.hostlock import HostLock, read_holder
from scheduler_proc.errors import SchedulerError
from scheduler_proc.identity import AppIdentity
from scheduler_proc.logs import ensure_kit_handler, mask_handlers, mask_output
from scheduler_proc.procutil import ORPHAN_GRACE, SupervisorHandle, describe_exit, wait_report
from scheduler_proc.securedir import ensure_private_dir
from scheduler_proc.settings import Settings, start_warnings

log = logging.getLogger("scheduler.embedded")

_POLL = 0.5
_EXIT_MARGIN = 5.0
_FIRST_RESPAWN_DELAY = 1.0
_MAX_RESPAWN_DELAY = 60.0
_VALIDATE_TIMEOUT = 120.0


class StartRefused(RuntimeError):
    """The scheduler refuses this worker's start; its one clear log line is already written."""


class _NoRefusalTraceback(logging.Filter):
    """On uvicorn's error logger: drop the traceback of a :class:`StartRefused` that Starlette hands
    uvicorn as the lifespan's failure message; the refusal's own line has said it all."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("Traceback") and f"{StartRefused.__qualname__}: scheduler: " in message)


def _refuse(problem: str) -> NoReturn:
    """Stop this worker's start with one clear log line (and no traceback after it under uvicorn)."""
    ensure_kit_handler()
    log.error("scheduler: %s; the server does not start", problem)
    uvicorn_errors = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _NoRefusalTraceback) for f in uvicorn_errors.filters):
        uvicorn_errors.addFilter(_NoRefusalTraceback())
    raise StartRefused(f"scheduler: {problem}")


def jobs_problem() -> str | None:
    """Why SCHEDULER_JOBS does not load, or None; checked in a fresh interpreter (``scheduler-proc
    validate``), so that no worker imports APScheduler or the jobs for it."""
    try:
        check = subprocess.run(
            [sys.executable, "-m", "scheduler_proc", "validate", "--quiet", "--parent-pid", str(os.getpid())],
            capture_output=True,
            text=True,
            timeout=_VALIDATE_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return (
            f"importing SCHEDULER_JOBS took more than {_VALIDATE_TIMEOUT:g}s (`scheduler-proc validate` did not end); "
            "a jobs module must not block at import"
        )
    if check.returncode == 0:
        return None
    return check.stderr.strip().removeprefix("error: ") or f"`scheduler-proc validate` exited {check.returncode}"


def managed_by_gunicorn_hooks() -> bool:
    """True in a gunicorn worker forked from a master whose kit hooks started the scheduler."""
    # Only if the hooks were imported (gunicorn.conf.py did): importing them here would not tell.
    hooks = sys.modules.get("scheduler_proc.master.hooks")
    return hooks is not None and bool(hooks.started_the_scheduler())


class EmbeddedOwner:
    """A thread in each worker: whoever holds the owner lock runs the supervisor.

    The thread that spawns the supervisor stays alive until it stops it, because the
    kernel's parent-death signal follows the spawning *thread*.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.grace = settings.stop_grace if settings.stop_grace is not None else 30.0
        self._stop = threading.Event()
        self._parent = os.getppid()  # uvicorn's supervisor: if it dies, we stop too
        self._thread = threading.Thread(target=self._run, name="scheduler-owner", daemon=True)
        # The same kind of lock as the host lock: whichever worker holds it starts the supervisor.
        self._app = AppIdentity.here(settings.jobs_ref)
        self._owner_lock = HostLock(
            settings.lock_dir / f"{settings.namespace}.owner.lock",
            settings.node_id,
            master_pid=os.getpid(),
            app=self._app,
        )
        self._told: int | None = None  # the owner whose other app we last logged

    def start(self) -> None:
        ensure_private_dir(self.settings.lock_dir, "SCHEDULER_LOCK_DIR")
        ensure_private_dir(self.settings.state_dir, "SCHEDULER_STATE_DIR")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.grace + 2 * _EXIT_MARGIN)

    def _run(self) -> None:
        while not self._stop.wait(_POLL):
            if os.getppid() != self._parent:
                log.warning("the server process that started this worker is gone; not running a scheduler")
                return
            if self._owner_lock.try_acquire():
                self._own()
                return
            self._tell_if_another_app_owns()

    def _tell_if_another_app_owns(self) -> None:
        """Another app's worker holds the owner lock of this namespace: this app never runs its jobs."""
        holder = read_holder(self._owner_lock.path)
        if holder is None or holder.pid == self._told:
            return
        conflict = self._app.conflict(holder.jobs, holder.directory, self.settings.namespace)
        if conflict:
            self._told = holder.pid
            log.error("owner lock %s is held by worker %s: %s", self._owner_lock.path, holder.describe(), conflict)

    def _own(self) -> None:
        """Run a supervisor while we hold the owner lock; start a new one if it ends unasked."""
        backoff = RestartBackoff(_FIRST_RESPAWN_DELAY, _MAX_RESPAWN_DELAY)
        try:
            while True:
                handle, started = self._start_supervisor(), time.monotonic()
                if not self._watch(handle):
                    self._stop_supervisor(handle)
                    return
                lived = time.monotonic() - started
                self._let_orphans_stop(handle)
                delay = backoff.after_exit(lived)
                log.error(
                    "scheduler supervisor pid %d %s after %.0fs; starting a new one in %gs",
                    handle.pid,
                    describe_exit(handle.popen.returncode),
                    lived,
                    delay,
                )
                if self._stop.wait(delay) or os.getppid() != self._parent:
                    return
        finally:
            self._owner_lock.release()

    def _start_supervisor(self) -> SupervisorHandle:
        handle, reports = SupervisorHandle.start(self.grace, cwd=Path.cwd())
        report = wait_report(reports, self.settings.start_timeout + _EXIT_MARGIN, self._stop.is_set)
        reports.close()
        if report is None or report.get("event") != "valid":
            reason = report.get("message") if report else None
            log.error("scheduler did not start: %s", reason or "no report; see the log above")
        else:
            log.info("scheduler supervisor pid %d started by worker %d", handle.pid, os.getpid())
        return handle

    def _watch(self, handle: SupervisorHandle) -> bool:
        """Wait while all is well; True if the supervisor ended without being asked to."""
        while not self._stop.is_set() and os.getppid() == self._parent:
            if handle.wait(_POLL):
                return True
        return False

    def _stop_supervisor(self, handle: SupervisorHandle) -> None:
        handle.request_stop()
        handle.wait(self.grace + _EXIT_MARGIN)
        handle.kill_group()  # the supervisor's session: runners and anything jobs started
        handle.popen.wait()  # we are its parent here (no gunicorn to reap it)
        handle.close()

    def _let_orphans_stop(self, handle: SupervisorHandle) -> None:
        """A dead supervisor's runner stops by itself (parent-death signal, ORPHAN_GRACE): wait for it, then kill."""
        handle.popen.wait()
        deadline = time.monotonic() + ORPHAN_GRACE + _EXIT_MARGIN
        while handle.session_alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        handle.kill_group()
        handle.close()


@contextlib.asynccontextmanager
async def scheduler_lifespan(app: Any = None) -> AsyncIterator[None]:
    """``FastAPI(lifespan=scheduler_lifespan)``: runs the scheduler side unless gunicorn's kit hooks do.

    Compose it with your own lifespan with ``async with scheduler_lifespan(app): ...``.
    """
    if managed_by_gunicorn_hooks():
        yield
        return
    # Without the kit's hooks nothing else masks this worker's output: uvicorn's handlers, print.
    mask_output()
    mask_handlers(logging.getLogger(name) for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access"))
    try:
        settings = Settings.from_env()
    except SchedulerError as exc:
        _refuse(str(exc))
    ensure_kit_handler(settings.log_format)
    for warning in start_warnings(settings):
        log.warning("%s", warning)
    if not settings.enabled:
        yield
        return
    problem = await asyncio.to_thread(jobs_problem)
    if problem:  # as under gunicorn: a jobs module that does not load stops the start, in every worker
        _refuse(problem)
    owner = EmbeddedOwner(settings)
    owner.start()
    try:
        yield
    finally:
        # Off the event loop: waiting for running jobs can take the whole stop grace.
        await asyncio.to_thread(owner.stop)
