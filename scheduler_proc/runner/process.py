"""The runner process: loads the jobs, takes the host lock, and runs fires while it leads.

Started by the supervisor as ``python -m scheduler_proc.runner``. It reports
``valid``/``invalid`` on a pipe once the jobs module is loaded, then waits as standby
until it holds the host lock (and, in cluster mode, the Redis lease).
"""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import sys
from contextlib import ExitStack
from typing import NoReturn

from scheduler_proc.coordination.backend import Backend, check_store, open_backend
from scheduler_proc.coordination.local.hostlock import HostLock
from scheduler_proc.coordination.redis.markers import MarkerKeeper
from scheduler_proc.coordination.term import RUN_ID_PREFIX
from scheduler_proc.errors import SchedulerError
from scheduler_proc.formats.argv import RunnerArgs, decode_runner_args
from scheduler_proc.formats.reports import Report
from scheduler_proc.identity import AppIdentity
from scheduler_proc.jobs import Jobs
from scheduler_proc.loader import load_jobs
from scheduler_proc.logs import configure_kit_logging, extend_to_root, mask_output
from scheduler_proc.procutil import ORPHAN_GRACE, SignalFlags, die_with_parent, send_report
from scheduler_proc.runner.appcheck import LeaderComparison
from scheduler_proc.runner.command_server import CommandServer
from scheduler_proc.runner.engines import TermEngines
from scheduler_proc.runner.liveness import Liveness
from scheduler_proc.runner.metrics import Metrics
from scheduler_proc.runner.publisher import StatusPublisher
from scheduler_proc.runner.shutdown import exit_hung, finish_running
from scheduler_proc.runner.standby import HostLockStandby
from scheduler_proc.runner.watchdog import Watchdog
from scheduler_proc.securedir import check_regular, ensure_private_dir
from scheduler_proc.settings import Settings

log = logging.getLogger("scheduler.runner")


class Runner:
    """Standby until it leads, then an :class:`Engine` per leadership term until told to stop.

    The loop ties the parts together: the host lock (:mod:`~scheduler_proc.runner.standby`),
    an engine per term (:mod:`~scheduler_proc.runner.engines`), operators' commands
    (:mod:`~scheduler_proc.runner.command_server`), signs of life
    (:mod:`~scheduler_proc.runner.liveness`) and the way out (:mod:`~scheduler_proc.runner.shutdown`).
    """

    def __init__(self, settings: Settings, jobs: Jobs, args: RunnerArgs, flags: SignalFlags) -> None:
        self.settings = settings
        self.jobs = jobs
        self.args = args
        self.flags = flags
        self.app = AppIdentity.here(settings.jobs_ref)
        self.lock = HostLock(settings.lock_path, settings.node_id, args.master_pid, runs=RUN_ID_PREFIX, app=self.app)
        self.metrics = Metrics(settings.node_id)
        self.publisher = StatusPublisher(settings, jobs, args.master_pid, self.metrics)
        self.liveness = Liveness(Watchdog(settings.watchdog_timeout), args.report_fd, self._exit_hung)
        self.standby = HostLockStandby(settings, self.lock, self.app, args.master_pid, len(jobs), self.publisher)
        self.engines = TermEngines(
            settings, jobs, self.lock, flags.stop, self.liveness.watchdog, self.metrics, self.liveness.progress
        )
        self.commands = CommandServer()
        self.backend: Backend | None = None

    def run(self) -> int:
        with ExitStack() as stack:
            stack.callback(self.lock.release)
            stack.callback(self.publisher.withdraw)
            watchdog = self.liveness.watchdog
            self.backend = open_backend(self.settings, self.lock, self.metrics, lambda: watchdog.keep_lease)
            self.engines.backend = self.backend
            stack.callback(self.backend.ledger.close)
            stack.callback(self.backend.bus.close)
            self.leader_comparison = LeaderComparison(
                AppIdentity(self.app.jobs, ""), self.settings.namespace, self.settings.node_id, self.backend.ledger
            )
            if self.backend.ledger.counts_instances and self.settings.cluster:
                keeper = MarkerKeeper(
                    self.backend.ledger, self.engines.claimed_runs, min(1.0, self.settings.lease_ttl / 4)
                )
                keeper.start()
                stack.callback(keeper.stop)
            tick = min(0.25, self.settings.lease_ttl / 8) if self.settings.cluster else 0.25
            while not self.flags.stop.is_set() and not self._orphaned():
                self._step(self.backend)
                self.liveness.check(self.engines.engine)
                if self.lock.held or not self.args.candidate:  # a candidate stays quiet until it takes over
                    leading = self._leading(self.backend)
                    self.publisher.publish(self.backend, self.engines.engine, leading, self.lock.held)
                self.flags.stop.wait(tick)
            return self._stop(self.backend)
        return 0  # pragma: no cover  (ExitStack does not swallow)

    def _step(self, backend: Backend) -> None:
        if not self.lock.held:
            self.standby.try_take()
            return
        if not self.lock.still_valid():
            log.error("host lock %s was removed or replaced on disk; pausing jobs and taking it again", self.lock.path)
            self.engines.retire()
            backend.leadership.release()
            self.lock.release()
            return
        self.standby.touch_if_due()
        backend.leadership.start()  # idempotent: competes for the lease only while holding the host lock
        if self.engines.follow(backend):
            self.leader_comparison.leading()
            self.publisher.conflict = self.publisher.tzdata_mismatch = None
        engine = self.engines.engine
        # Only while the store answers: a call to a store that is down blocks this loop up to the socket
        # timeout, and the engine of a lease won meanwhile would start that much later.
        if engine is None and self.settings.cluster and backend.leadership.status().get("store_state") == "ok":
            self.leader_comparison.standing_by()
            self.publisher.conflict = self.leader_comparison.conflict
            self.publisher.tzdata_mismatch = self.leader_comparison.tzdata_mismatch
        if engine is not None:
            engine.retry_waiting()
            self.commands.serve_if_due(backend, engine)

    def _exit_hung(self, stuck: float) -> None:
        assert self.backend is not None
        exit_hung(
            f"the dispatch loop made no progress for {stuck:.1f}s (SCHEDULER_WATCHDOG_TIMEOUT="
            f"{self.liveness.watchdog.timeout:g}s): it hangs; giving up the lease and exiting, so that the supervisor "
            "starts a new runner",
            self.backend.leadership,
            self.engines.all,
        )

    def _orphaned(self) -> bool:
        return os.getppid() != self.args.parent_pid

    def _grace(self) -> float:
        grace = self.settings.stop_grace if self.settings.stop_grace is not None else self.args.default_grace
        return min(grace, ORPHAN_GRACE) if self._orphaned() else grace

    def _stop(self, backend: Backend) -> int:
        """No new fires; hand the lease over at once; let running jobs finish under the ended term."""
        grace = self._grace()
        reason = (
            "its supervisor is gone"
            if self._orphaned()
            else (f"signal {signal.Signals(self.flags.stop_signal).name}" if self.flags.stop_signal else "stop")
        )
        log.info("scheduler stopping (%s): no new fires; waiting up to %gs for running jobs", reason, grace)
        self.engines.retire()
        return finish_running(self.engines.retired, backend.leadership, grace)

    def _leading(self, backend: Backend) -> bool:
        """Leader in status means dispatching: the lock, the lease, and a running engine."""
        return self.lock.held and backend.leadership.leading and self.engines.engine is not None


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (never 3 or 4, which old gunicorns treat as fatal)."""
    args = decode_runner_args(argv)
    flags = SignalFlags()
    if not die_with_parent(args.parent_pid):
        return 0
    mask_output()  # the jobs' print() and stderr, and a SystemExit at their import, mask known secrets
    try:
        settings = Settings.from_env()
        configure_kit_logging(settings.log_level, settings.log_format)
        jobs = load_jobs(settings.jobs_ref)  # the app's own logging setup at import applies, as in its processes
        extend_to_root()
        ensure_private_dir(settings.lock_dir, "SCHEDULER_LOCK_DIR")
        check_regular(settings.lock_path, "host lock")  # a FIFO or directory there: refused now, not each try
        ensure_private_dir(settings.state_dir, "SCHEDULER_STATE_DIR")
        check_store(settings)
    except SchedulerError as exc:
        send_report(args.report_fd, Report(event="invalid", message=str(exc)))
        return 2
    send_report(args.report_fd, Report(event="valid", jobs=len(jobs)))
    os.set_blocking(args.report_fd, False)  # heartbeats follow; a supervisor that lags must not block us
    faulthandler.enable()  # a supervisor that finds us hung sends SIGABRT: the stacks go to the log
    return Runner(settings, jobs, args, flags).run()


def run_as_main() -> NoReturn:
    """``python -m scheduler_proc.runner``: main, then exit at once."""
    code = main()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()  # a partial line a job wrote, masked
    # os._exit: abandoned job threads must not keep the process alive.
    os._exit(code if code not in (3, 4) else 1)
