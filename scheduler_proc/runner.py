"""The runner process: loads the jobs, takes the host lock, and runs fires while it holds it.

Started by the supervisor as ``python -m scheduler_proc.runner``. It reports
``valid``/``invalid`` on a pipe once the jobs module is loaded, then waits as
standby until it holds the host lock.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass

from scheduler_proc.engine import Engine
from scheduler_proc.errors import SchedulerError
from scheduler_proc.fire import Term
from scheduler_proc.hostlock import HostLock, read_holder
from scheduler_proc.jobs import Jobs
from scheduler_proc.ledger import LocalLedger
from scheduler_proc.loader import load_jobs
from scheduler_proc.logs import configure_logging
from scheduler_proc.procutil import SignalFlags, die_with_parent, send_report
from scheduler_proc.securedir import ensure_private_dir
from scheduler_proc.settings import Settings
from scheduler_proc.status import remove_status, write_status

log = logging.getLogger("scheduler.runner")

#: When the process that started us is gone, running jobs get at most this long.
ORPHAN_GRACE = 2.0
_TOUCH_EVERY = 60.0


@dataclass(frozen=True)
class RunnerArgs:
    """What the supervisor tells a runner on its command line."""

    parent_pid: int
    master_pid: int
    report_fd: int
    default_grace: float
    candidate: bool


class Runner:
    """Standby until the host lock is ours, then an :class:`Engine` until told to stop."""

    def __init__(self, settings: Settings, jobs: Jobs, args: RunnerArgs, flags: SignalFlags) -> None:
        self.settings = settings
        self.jobs = jobs
        self.args = args
        self.flags = flags
        self.lock = HostLock(settings.lock_path, settings.node_id, args.master_pid)
        self.engine: Engine | None = None
        self._waiting_on: object = None
        self._touched = 0.0

    def run(self) -> int:
        status_path = self.settings.status_path(self.args.master_pid)
        with ExitStack() as stack:
            stack.callback(self.lock.release)
            stack.callback(remove_status, status_path)
            ledger = LocalLedger(self.settings.ledger_path, self.settings.claim_retention)
            stack.callback(ledger.close)
            while not self.flags.stop.is_set() and not self._orphaned():
                self._step(ledger)
                if self.lock.held or not self.args.candidate:
                    write_status(status_path, self._status())
                self.flags.stop.wait(0.5 if self.lock.held else 0.25)
            return self._stop()
        return 0  # pragma: no cover  (ExitStack does not swallow)

    def _step(self, ledger: LocalLedger) -> None:
        if self.lock.held:
            if not self.lock.still_valid():
                log.error(
                    "host lock %s was removed or replaced on disk; pausing jobs and taking it again", self.lock.path
                )
                self._stop_engine(self._grace())
                self.lock.release()
            elif time.monotonic() - self._touched > _TOUCH_EVERY:
                self.lock.touch()
                self._touched = time.monotonic()
            return
        if self.lock.try_acquire():
            log.info(
                "host lock %s taken by pid %d (node %s); running %d job(s)",
                self.lock.path,
                os.getpid(),
                self.settings.node_id,
                len(self.jobs),
            )
            self._touched = time.monotonic()
            self.engine = Engine(
                self.jobs,
                ledger,
                self.settings.node_id,
                self.settings.misfire_grace,
                self.settings.max_workers,
                self._may_dispatch,
            )
            self.engine.start()
            return
        holder = read_holder(self.lock.path)
        if holder is not None and holder.pid != self._waiting_on:
            self._waiting_on = holder.pid
            log.info("host lock %s is held by %s; this scheduler waits as standby", self.lock.path, holder.describe())

    def _may_dispatch(self) -> Term | None:
        if self.flags.stop.is_set() or not self.lock.still_valid():
            return None
        return Term(token=None, is_current=self.lock.still_valid)

    def _orphaned(self) -> bool:
        return os.getppid() != self.args.parent_pid

    def _grace(self) -> float:
        grace = self.settings.stop_grace if self.settings.stop_grace is not None else self.args.default_grace
        return min(grace, ORPHAN_GRACE) if self._orphaned() else grace

    def _stop(self) -> int:
        grace = self._grace()
        reason = (
            "its supervisor is gone"
            if self._orphaned()
            else f"signal {signal.Signals(self.flags.stop_signal).name}"
            if self.flags.stop_signal
            else "stop"
        )
        log.info("scheduler stopping (%s): no new fires; waiting up to %gs for running jobs", reason, grace)
        clean = self._stop_engine(grace)
        log.info("scheduler stopped (pid %d)", os.getpid())
        return 0 if clean else 1

    def _stop_engine(self, grace: float) -> bool:
        engine, self.engine = self.engine, None
        return engine.stop(grace) if engine is not None else True

    def _status(self) -> dict[str, object]:
        return {
            "node": self.settings.node_id,
            "role": "leader" if self.lock.held else "standby",
            "runner_pid": os.getpid(),
            "master_pid": self.args.master_pid,
            "mode": "single-host",
            "jobs": self.engine.snapshot() if self.engine else _idle_jobs(self.jobs),
        }


def _idle_jobs(jobs: Jobs) -> list[dict[str, object]]:
    return [
        {"id": spec.id, "trigger": spec.description, "next_run_at": None, "last_run_at": None, "last_outcome": None}
        for spec in jobs
    ]


def _parse_args(argv: list[str] | None) -> RunnerArgs:
    parser = argparse.ArgumentParser(prog="python -m scheduler_proc.runner")
    parser.add_argument("--parent-pid", type=int, required=True)
    parser.add_argument("--master-pid", type=int, required=True)
    parser.add_argument("--report-fd", type=int, required=True)
    parser.add_argument("--default-grace", type=float, required=True)
    parser.add_argument("--candidate", action="store_true", help="a reload candidate: quiet until it leads")
    return RunnerArgs(**vars(parser.parse_args(argv)))


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (never 3 or 4, which old gunicorns treat as fatal)."""
    args = _parse_args(argv)
    flags = SignalFlags()
    if not die_with_parent(args.parent_pid):
        return 0
    try:
        settings = Settings.from_env()
        configure_logging(settings.log_level)
        jobs = load_jobs(settings.jobs_ref)
        ensure_private_dir(settings.lock_dir, "SCHEDULER_LOCK_DIR")
        ensure_private_dir(settings.state_dir, "SCHEDULER_STATE_DIR")
    except SchedulerError as exc:
        send_report(args.report_fd, "invalid", message=str(exc))
        return 2
    send_report(args.report_fd, "valid", jobs=len(jobs))
    os.close(args.report_fd)
    return Runner(settings, jobs, args, flags).run()


if __name__ == "__main__":
    code = main()
    logging.shutdown()
    sys.stdout.flush()
    # os._exit: abandoned job threads must not keep the process alive.
    os._exit(code if code not in (3, 4) else 1)
