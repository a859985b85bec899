"""Standing by for the host lock: wait for the web side, take the lock when free, say who holds it.

One scheduler per host: the runner that holds the host lock competes for leadership (or, on
a single host, leads); the others wait here, each telling once who holds the lock and
whether that holder is this app at all (another app on the same path is a conflict).
"""

from __future__ import annotations

import logging
import os
import time

from scheduler_proc import problems
from scheduler_proc.coordination import backend
from scheduler_proc.coordination.local.hostlock import HostLock, read_holder
from scheduler_proc.errors import HostLockError
from scheduler_proc.identity import AppIdentity, parent_of
from scheduler_proc.runner.publisher import StatusPublisher
from scheduler_proc.settings import Settings

log = logging.getLogger("scheduler.runner")

_TOUCH_EVERY = 60.0


class HostLockStandby:
    """Takes the host lock when it is free (and the web side answers), and keeps it touched."""

    def __init__(
        self,
        settings: Settings,
        lock: HostLock,
        app: AppIdentity,
        master_pid: int,
        job_count: int,
        publisher: StatusPublisher,
    ) -> None:
        self._settings = settings
        self._lock = lock
        self._app = app
        self._master_pid = master_pid
        self._job_count = job_count
        self._publisher = publisher  # told of a conflict with another app, and when it ends
        self._waiting_on: object = None
        self._waiting_for_web = False
        self._touched = 0.0

    def try_take(self) -> None:
        """Take the host lock if the web side is ready and the lock is free; else say who holds it (once)."""
        if not self._web_ready():
            return
        try:
            self._try_host_lock()
        except HostLockError as exc:  # something else now stands at the lock path (a FIFO, a directory)
            problems.report("lock", "the host lock cannot be taken", str(exc))
            return
        problems.resolved("lock", f"host lock {self._lock.path} can be taken again")

    def touch_if_due(self) -> None:
        """Touch the held lock now and then: its age tells operators the holder lives."""
        if time.monotonic() - self._touched > _TOUCH_EVERY:
            self._lock.touch()
            self._touched = time.monotonic()

    def _web_ready(self) -> bool:
        """With SCHEDULER_READY_FILE set (the systemd unit does), no fire before the web side answers:
        a release whose HTTP side is broken must not run jobs between its restarts."""
        ready = self._settings.ready_file
        if ready is None or ready.is_file():
            return True
        if not self._waiting_for_web:
            self._waiting_for_web = True
            log.info("waiting for the web side to answer before dispatching (no %s yet)", ready)
        return False

    def _try_host_lock(self) -> None:
        if self._lock.try_acquire():
            log.info(
                "host lock %s taken by pid %d (node %s); %d job(s) loaded",
                self._lock.path,
                os.getpid(),
                self._settings.node_id,
                self._job_count,
            )
            self._touched = time.monotonic()
            self._publisher.conflict = None
            backend.release_for(
                self._settings, self._lock.previous, f"runner pid {os.getpid()}, which took the host lock"
            )
            return
        holder = read_holder(self._lock.path)
        if holder is not None and holder.pid != self._waiting_on:
            self._waiting_on = holder.pid
            # A USR2 upgrade's new master is the old master's child, and may run from a new release
            # directory: that is this app handing over, not another app.
            upgrade = holder.master_pid != 0 and holder.master_pid == parent_of(self._master_pid)
            conflict = None if upgrade else self._app.conflict(holder.jobs, holder.directory, self._settings.namespace)
            self._publisher.conflict = conflict
            if conflict:
                log.error("host lock %s is held by %s: %s", self._lock.path, holder.describe(), conflict)
            else:
                log.info(
                    "host lock %s is held by %s; this scheduler waits as standby", self._lock.path, holder.describe()
                )
