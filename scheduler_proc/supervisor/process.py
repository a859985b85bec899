"""The supervisor process: keeps one runner alive, swaps it on reload, stops it on request.

Started by the gunicorn master hooks as ``python -m scheduler_proc.supervisor`` in a
session of its own. It never imports the jobs module, so it does not crash with it.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn

from scheduler_proc.backoff import RestartBackoff
from scheduler_proc.errors import SchedulerError
from scheduler_proc.formats.argv import SupervisorArgs, decode_supervisor_args, encode_runner_args
from scheduler_proc.formats.reports import Report
from scheduler_proc.logs import configure_logging, mask_output
from scheduler_proc.procutil import (
    ORPHAN_GRACE,
    ReportReader,
    SignalFlags,
    describe_exit,
    die_with_parent,
    finish_relays,
    send_report,
    spawn_reporting_child,
    wait_report,
)
from scheduler_proc.settings import Settings

log = logging.getLogger("scheduler.supervisor")

_FIRST_RESTART_DELAY = 0.5
_KILL_MARGIN = 2.0
#: A runner beats every second; its supervisor aborts it after the watchdog timeout plus this.
_BEAT_MARGIN = 3.0


@dataclass
class RunnerChild:
    """One runner child and its report pipe."""

    popen: subprocess.Popen[bytes]
    reports: ReportReader
    started: float = field(default_factory=time.monotonic)
    retired_at: float | None = None
    last_beat: float = field(default_factory=time.monotonic)  # it writes a heartbeat a second
    aborted_at: float | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            self.popen.send_signal(sig)


class Supervisor:
    """Restarts a dead runner with backoff; on HUP starts a validated replacement first."""

    def __init__(
        self, settings: Settings, args: SupervisorArgs, flags: SignalFlags, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        #: Judges heartbeats, backoff and grace (tests move it); real waits use real time.
        self.clock = clock
        self.args = args
        self.flags = flags
        self.grace = settings.stop_grace if settings.stop_grace is not None else args.default_grace
        self.active: RunnerChild | None = None
        self.retiring: list[RunnerChild] = []
        self.backoff = RestartBackoff(_FIRST_RESTART_DELAY, settings.restart_backoff_max)
        self.restart_at = 0.0

    def start(self) -> Report:
        """Start the first runner and return its report (valid or invalid)."""
        runner, report = self._spawn(candidate=False)
        if report.get("event") == "valid":
            self.active = runner
        return report

    def loop(self) -> int:
        while not self.flags.stop.is_set() and not self._orphaned():
            if self.flags.reload.is_set():
                self.flags.reload.clear()
                self._reload()
            self._watch_active()
            self._reap_retiring()
            self.flags.stop.wait(0.2)
        return self._shutdown()

    def _spawn(self, candidate: bool) -> tuple[RunnerChild, Report]:
        args = encode_runner_args(os.getpid(), self.args.master_pid, self.args.default_grace, candidate)
        popen, reports = spawn_reporting_child("scheduler_proc.runner", args, relay_output=True)
        runner = RunnerChild(popen, reports, started=self.clock())
        report = wait_report(reports, self.settings.start_timeout, self._stopping)
        if report is None or report.get("event") != "valid":
            reports.close()  # a valid runner keeps it open: its heartbeats come that way
        runner.last_beat = self.clock()
        if report is None:
            if runner.alive():
                runner.popen.kill()
            runner.popen.wait()
            report = {
                "event": "invalid",
                "message": (
                    f"the scheduler runner (pid {runner.pid}) {describe_exit(runner.popen.returncode)} "
                    f"before it loaded SCHEDULER_JOBS={self.settings.jobs_ref!r} "
                    f"(SCHEDULER_START_TIMEOUT is {self.settings.start_timeout:g}s); see the log above"
                ),
            }
        return runner, report

    def _watch_heartbeat(self, runner: RunnerChild) -> None:
        """A runner whose main loop stopped beating hangs (its own watchdog could not act): abort it."""
        now = self.clock()
        if runner.reports.poll():
            runner.last_beat = now
        silent = now - runner.last_beat
        if runner.aborted_at is None and silent > self.settings.watchdog_timeout + _BEAT_MARGIN:
            log.error(
                "scheduler runner (pid %d) gave no sign of life for %.1fs (SCHEDULER_WATCHDOG_TIMEOUT=%gs): it hangs; "
                "sending SIGABRT (the stacks of its threads follow in the log), then starting a new one",
                runner.pid,
                silent,
                self.settings.watchdog_timeout,
            )
            runner.aborted_at = now
            runner.signal(signal.SIGABRT)
        elif runner.aborted_at is not None and now - runner.aborted_at > _KILL_MARGIN:
            runner.signal(signal.SIGKILL)

    def _watch_active(self) -> None:
        if self.active is not None and self.active.alive() and not self._stopping():
            self._watch_heartbeat(self.active)
        if self.active is not None and not self.active.alive():
            lived = self.clock() - self.active.started
            delay = self.backoff.after_exit(lived)
            log.error(
                "scheduler runner (pid %d) %s; restarting it in %gs",
                self.active.pid,
                describe_exit(self.active.popen.returncode),
                delay,
            )
            self.active.reports.close()
            self.active = None
            self.restart_at = self.clock() + delay
            self._release_dead_runners_lease()
        if self.active is None and self.clock() >= self.restart_at and not self._stopping():
            runner, report = self._spawn(candidate=False)
            if report.get("event") == "valid":
                self.active = runner
                log.info("scheduler runner restarted (pid %d)", runner.pid)
            else:
                delay = self.backoff.after_failed_start()
                log.error("scheduler runner cannot start: %s; trying again in %gs", report.get("message"), delay)
                self.restart_at = self.clock() + delay

    def _release_dead_runners_lease(self) -> None:
        """In cluster mode, give up the lease the dead runner held: another node leads now, not in a TTL."""
        if not self.settings.cluster:
            return
        # Imported here: the supervisor needs its store only when a runner died, and stays small otherwise.
        from scheduler_proc.coordination.backend import release_abandoned

        try:
            release_abandoned(self.settings)
        except Exception:  # never let this take the supervisor down
            log.exception("could not release the lease of the dead runner")

    def _reload(self) -> None:
        log.info(
            "reload: loading SCHEDULER_JOBS=%r in a new runner before replacing the old one", self.settings.jobs_ref
        )
        candidate, report = self._spawn(candidate=True)
        if report.get("event") != "valid":
            log.error("reload rejected, the running scheduler keeps the previous jobs: %s", report.get("message"))
            return
        old, self.active = self.active, candidate
        if old is not None:
            log.info(
                "reload: runner pid %d hands over to pid %d; its running jobs finish first", old.pid, candidate.pid
            )
            old.signal(signal.SIGTERM)
            old.retired_at = self.clock()
            self.retiring.append(old)

    def _reap_retiring(self) -> None:
        """Forget retired runners that exited; kill those that outlived their grace."""
        for old in list(self.retiring):
            if not old.alive():
                self.retiring.remove(old)
                old.reports.close()
            elif old.retired_at is not None and self.clock() - old.retired_at > self.grace + _KILL_MARGIN:
                log.error("retired scheduler runner (pid %d) outlived its stop grace; killing it", old.pid)
                old.signal(signal.SIGKILL)

    def _shutdown(self) -> int:
        orphaned = self._orphaned()
        grace = min(self.grace, ORPHAN_GRACE) if orphaned else self.grace
        log.info("scheduler supervisor stopping (%s)", "gunicorn master is gone" if orphaned else "stop requested")
        runners = [r for r in [self.active, *self.retiring] if r is not None]
        for runner in runners:
            runner.signal(signal.SIGTERM)
        deadline = time.monotonic() + grace + _KILL_MARGIN
        for runner in runners:
            try:
                runner.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error(
                    "scheduler runner (pid %d) did not stop within %gs; killing it", runner.pid, grace + _KILL_MARGIN
                )
                runner.popen.kill()
                runner.popen.wait()
        return 0

    def _orphaned(self) -> bool:
        return os.getppid() != self.args.master_pid

    def _stopping(self) -> bool:
        return self.flags.stop.is_set() or self._orphaned()


def main(argv: list[str] | None = None) -> int:
    """Entry point; reports the first runner's verdict to the master, then supervises."""
    args = decode_supervisor_args(argv)
    flags = SignalFlags()
    if not die_with_parent(args.master_pid):
        return 0
    mask_output()
    try:
        settings = Settings.from_env()
    except SchedulerError as exc:
        send_report(args.report_fd, Report(event="invalid", message=str(exc)))
        return 2
    configure_logging(settings.log_level, settings.log_format)
    supervisor = Supervisor(settings, args, flags)
    report = supervisor.start()
    send_report(args.report_fd, Report(event=report["event"], message=report.get("message")))
    os.close(args.report_fd)
    if report.get("event") != "valid":
        return 2
    log.info(
        "scheduler supervisor (pid %d) runs runner pid %d for gunicorn master %d",
        os.getpid(),
        supervisor.active.pid if supervisor.active else 0,
        args.master_pid,
    )
    return supervisor.loop()


def run_as_main() -> NoReturn:
    """``python -m scheduler_proc.supervisor``: main, and an exit status gunicorn cannot misread."""
    try:
        code = main()
    except BaseException:  # never let an exit status of 3 or 4 reach gunicorn
        logging.getLogger("scheduler.supervisor").exception("scheduler supervisor failed")
        code = 1
    finish_relays(2.0)  # the runner's last lines (its stop, a watchdog's stack dump) reach the log
    logging.shutdown()
    os._exit(code if code not in (3, 4) else 1)
