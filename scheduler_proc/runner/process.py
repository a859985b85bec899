"""The runner process: loads the jobs, takes the host lock, and runs fires while it leads.

Started by the supervisor as ``python -m scheduler_proc.runner``. It reports
``valid``/``invalid`` on a pipe once the jobs module is loaded, then waits as standby
until it holds the host lock (and, in cluster mode, the Redis lease).
"""

from __future__ import annotations

import contextlib
import dataclasses
import faulthandler
import gc
import logging
import os
import signal
import sys
import threading
import time
from contextlib import ExitStack
from typing import NoReturn

from scheduler_proc import problems
from scheduler_proc.coordination.backend import Backend, check_redis, open_backend
from scheduler_proc.coordination.local.hostlock import HostLock, read_holder
from scheduler_proc.coordination.records import LiveRun
from scheduler_proc.coordination.redis import takeover
from scheduler_proc.coordination.redis.markers import MarkerKeeper
from scheduler_proc.coordination.term import RUN_ID_PREFIX, Term
from scheduler_proc.errors import HostLockError, LedgerError, RedisUnavailable, SchedulerError
from scheduler_proc.formats.argv import RunnerArgs, decode_runner_args
from scheduler_proc.formats.reports import Report
from scheduler_proc.identity import AppIdentity, parent_of
from scheduler_proc.jobs import Jobs
from scheduler_proc.loader import load_jobs
from scheduler_proc.logs import configure_logging, mask_output
from scheduler_proc.procutil import ORPHAN_GRACE, SignalFlags, die_with_parent, send_report
from scheduler_proc.runner.appcheck import LeaderComparison
from scheduler_proc.runner.commands import apply
from scheduler_proc.runner.engine import Engine
from scheduler_proc.runner.instances import Instances
from scheduler_proc.runner.metrics import Metrics
from scheduler_proc.runner.publisher import StatusPublisher
from scheduler_proc.runner.watchdog import NUDGE_EVERY, Watchdog, dump_stacks
from scheduler_proc.securedir import check_regular, ensure_private_dir
from scheduler_proc.settings import Settings

log = logging.getLogger("scheduler.runner")

_TOUCH_EVERY = 60.0
_COMMANDS_EVERY = 0.2
_EXIT_HUNG = 70  # EX_SOFTWARE; never 3 or 4 (see main)
#: How long a watchdog exit may spend recording the runs in flight (the supervisor waits for beats).
_EXIT_RECORDS_WAIT = 2.0
#: At a stop, claimed fires waiting for a job thread get this long to start before the lease is handed over.
_START_WAIT = 0.5


class Runner:
    """Standby until it leads, then an :class:`Engine` per leadership term until told to stop."""

    def __init__(self, settings: Settings, jobs: Jobs, args: RunnerArgs, flags: SignalFlags) -> None:
        self.settings = settings
        self.jobs = jobs
        self.args = args
        self.flags = flags
        self.app = AppIdentity.here(settings.jobs_ref)
        self.lock = HostLock(settings.lock_path, settings.node_id, args.master_pid, runs=RUN_ID_PREFIX, app=self.app)
        self.backend: Backend | None = None
        self.engine: Engine | None = None
        self._engine_term: int | None = None  # the term the engine dispatches under
        self.retired: list[Engine] = []
        self.instances = Instances()  # every engine's runs: max_instances holds across terms
        self._waiting_on: object = None
        self._touched = 0.0
        self._commands_at = 0.0
        self.metrics = Metrics(settings.node_id)
        self.publisher = StatusPublisher(settings, jobs, args.master_pid, self.metrics)
        self.watchdog = Watchdog(settings.watchdog_timeout)
        self._waiting_for_web = False
        self._nudged_at = 0.0
        self._beat_sent = 0.0

    def run(self) -> int:
        with ExitStack() as stack:
            stack.callback(self.lock.release)
            stack.callback(self.publisher.withdraw)
            self.backend = open_backend(self.settings, self.lock, self.metrics, lambda: self.watchdog.keep_lease)
            stack.callback(self.backend.ledger.close)
            self.leader_comparison = LeaderComparison(
                AppIdentity(self.app.jobs, ""), self.settings.namespace, self.settings.node_id, self.backend.ledger
            )
            if self.backend.ledger.counts_instances and self.settings.redis is not None:
                keeper = MarkerKeeper(
                    self.backend.ledger, self._claimed_runs, min(1.0, self.settings.redis.lease_ttl / 4)
                )
                keeper.start()
                stack.callback(keeper.stop)
            tick = 0.25 if self.settings.redis is None else min(0.25, self.settings.redis.lease_ttl / 8)
            while not self.flags.stop.is_set() and not self._orphaned():
                self._step(self.backend)
                self._watch(self.backend)
                if self.lock.held or not self.args.candidate:  # a candidate stays quiet until it takes over
                    self.publisher.publish(self.backend, self.engine, self._leading(self.backend), self.lock.held)
                self.flags.stop.wait(tick)
            return self._stop(self.backend)
        return 0  # pragma: no cover  (ExitStack does not swallow)

    def _watch(self, backend: Backend) -> None:
        """Once a second: nudge the dispatch loop, tell the supervisor we live; give up if the loop hangs."""
        if time.monotonic() - self._nudged_at < NUDGE_EVERY:
            return
        self._nudged_at = time.monotonic()
        stuck = self.watchdog.stuck_for()
        if stuck:
            dump_stacks(
                f"the dispatch loop made no progress for {stuck:.1f}s (SCHEDULER_WATCHDOG_TIMEOUT="
                f"{self.watchdog.timeout:g}s): it hangs; giving up the lease and exiting, so that the supervisor "
                "starts a new runner"
            )
            with contextlib.suppress(Exception):
                backend.leadership.release()
            self._record_what_we_can()
            logging.shutdown()
            os._exit(_EXIT_HUNG)
        if self.engine is not None:
            self.engine.nudge()
        self._tell_the_supervisor_we_live()

    def _record_what_we_can(self) -> None:
        """Before the watchdog's exit: runs still going are recorded as abandoned and finished ones
        are written, within a bound (a hung loop may hold the locks this needs: then we go anyway)."""

        def record() -> None:
            engines = [engine for engine in (self.engine, *self.retired) if engine is not None]
            abandoned = [job for engine in engines for job in engine.abandon()]
            for engine in engines:
                engine.flush_records(_EXIT_RECORDS_WAIT)
            if abandoned:
                log.warning("abandoned on exit, recorded: %s", ", ".join(abandoned))

        writer = threading.Thread(target=record, name="exit-records", daemon=True)
        writer.start()
        writer.join(_EXIT_RECORDS_WAIT + 0.5)
        if writer.is_alive():
            log.error(
                "could not record the runs in flight within %gs; they stay `running` in the ledger", _EXIT_RECORDS_WAIT
            )

    def _tell_the_supervisor_we_live(self) -> None:
        self._beat_sent = time.monotonic()
        send_report(self.args.report_fd, Report(event="beat"))

    def _progress(self) -> None:
        """Claims retrying on Redis call this between tries: the dispatch loop is fed, and when the
        retries run on this loop (fires waiting for an instance, manual runs), the supervisor hears
        from us too: waiting on Redis is not a hang, and must not get the runner aborted."""
        self.watchdog.beat()
        on_this_loop = threading.current_thread() is threading.main_thread()
        if on_this_loop and time.monotonic() - self._beat_sent >= NUDGE_EVERY:
            self._tell_the_supervisor_we_live()

    def _step(self, backend: Backend) -> None:
        if not self.lock.held:
            if self._web_ready():
                try:
                    self._try_host_lock()
                except HostLockError as exc:  # something else now stands at the lock path (a FIFO, a directory)
                    problems.report("lock", "the host lock cannot be taken", str(exc))
                    return
                problems.resolved("lock", f"host lock {self.lock.path} can be taken again")
            return
        if not self.lock.still_valid():
            log.error("host lock %s was removed or replaced on disk; pausing jobs and taking it again", self.lock.path)
            self._retire_engine()
            backend.leadership.release()
            self.lock.release()
            return
        if time.monotonic() - self._touched > _TOUCH_EVERY:
            self.lock.touch()
            self._touched = time.monotonic()
        backend.leadership.start()  # idempotent: competes for the lease only while holding the host lock
        self._follow_leadership(backend)
        # Only while Redis answers: a call to a Redis that is down blocks this loop up to the socket
        # timeout, and the engine of a lease won meanwhile would start that much later.
        if self.engine is None and self.settings.redis is not None and backend.leadership.status().get("redis") == "ok":
            self.leader_comparison.standing_by()
            self.publisher.conflict = self.leader_comparison.conflict
            self.publisher.tzdata_mismatch = self.leader_comparison.tzdata_mismatch
        if self.engine is not None:
            self.engine.retry_waiting()
        if self.engine is not None and time.monotonic() - self._commands_at > _COMMANDS_EVERY and backend.bus.due():
            self._commands_at = time.monotonic()
            self._serve_commands(backend, self.engine)

    def _web_ready(self) -> bool:
        """With SCHEDULER_READY_FILE set (the systemd unit does), no fire before the web side answers:
        a release whose HTTP side is broken must not run jobs between its restarts."""
        ready = self.settings.ready_file
        if ready is None or ready.is_file():
            return True
        if not self._waiting_for_web:
            self._waiting_for_web = True
            log.info("waiting for the web side to answer before dispatching (no %s yet)", ready)
        return False

    def _try_host_lock(self) -> None:
        if self.lock.try_acquire():
            log.info(
                "host lock %s taken by pid %d (node %s); %d job(s) loaded",
                self.lock.path,
                os.getpid(),
                self.settings.node_id,
                len(self.jobs),
            )
            self._touched = time.monotonic()
            self.publisher.conflict = None
            takeover.release_for(
                self.settings, self.lock.previous, f"runner pid {os.getpid()}, which took the host lock"
            )
            return
        holder = read_holder(self.lock.path)
        if holder is not None and holder.pid != self._waiting_on:
            self._waiting_on = holder.pid
            # A USR2 upgrade's new master is the old master's child, and may run from a new release
            # directory: that is this app handing over, not another app.
            upgrade = holder.master_pid != 0 and holder.master_pid == parent_of(self.args.master_pid)
            conflict = None if upgrade else self.app.conflict(holder.jobs, holder.directory, self.settings.namespace)
            self.publisher.conflict = conflict
            if conflict:
                log.error("host lock %s is held by %s: %s", self.lock.path, holder.describe(), conflict)
            else:
                log.info(
                    "host lock %s is held by %s; this scheduler waits as standby", self.lock.path, holder.describe()
                )

    def _follow_leadership(self, backend: Backend) -> None:
        """An engine per leadership term: a lost lease retires it, and so does a new term won in
        between two turns of this loop (the new engine catches up what the gap missed)."""
        term = backend.leadership.current_term()
        if self.engine is not None and (term is None or term.token != self._engine_term):
            self._retire_engine()
        if term is not None and self.engine is None:
            engine = self._new_engine(backend)
            if engine is None:
                return
            try:
                engine.start(floor=backend.floor_time())
            except (RedisUnavailable, LedgerError) as exc:
                if isinstance(exc, RedisUnavailable):  # a LedgerError is reported once, as a problem
                    log.error("cannot resume the jobs (%s); trying again", exc)
                engine.halt()
                return
            self.engine, self._engine_term = engine, term.token
            backend.bus.rewind()
            self.watchdog.watch(True)
            self.leader_comparison.leading()
            self.publisher.conflict = self.publisher.tzdata_mismatch = None
            # The jobs, triggers and APScheduler's store live as long as the engine: keep them
            # out of the collector's scans, which otherwise walk them all inside a burst.
            gc.freeze()

    def _new_engine(self, backend: Backend) -> Engine | None:
        """An engine, or None while the ledger cannot be read: health says why (see scheduler_proc.problems);
        the next turn of the loop tries again."""
        try:
            return Engine(
                self.jobs,
                backend.ledger,
                self.settings.node_id,
                self.settings.misfire_grace,
                self.settings.max_workers,
                self._may_dispatch,
                self.metrics,
                self._progress,
                self.instances,
            )
        except LedgerError:
            return None

    def _serve_commands(self, backend: Backend, engine: Engine) -> None:
        """Carry out operators' commands; only the leader does, so each is acted on once."""
        try:
            for command in backend.bus.receive():
                try:
                    result = apply(command, engine, backend.ledger)
                except SchedulerError:
                    raise  # Redis trouble: the command stays queued and is tried again
                except Exception as exc:  # a bad command must not stop the leader (nor the next one)
                    log.exception("command %s id=%s failed", command.action, command.id)
                    result = {"ok": False, "error": f"the leader could not carry it out: {type(exc).__name__}"}
                log.info(
                    "command %s job=%s id=%s: %s",
                    command.action,
                    command.job_id,
                    command.id,
                    result.get("result", "done") if result.get("ok") else result.get("error"),
                )
                backend.bus.ack(command, result)
        except SchedulerError as exc:
            log.warning("could not read operator commands: %s", exc)

    def _retire_engine(self) -> None:
        """Stop dispatching; fires already running finish under their (now ended) term."""
        if self.engine is not None:
            self.watchdog.watch(False)
            self.engine.halt()
            self.retired.append(self.engine)
            self.engine = None
            # Let the collector see this engine's objects (and any garbage frozen with them)
            # again; the next engine freezes what is then alive. Without this, every gain of
            # the lease would freeze another generation's garbage for good.
            gc.unfreeze()

    def _claimed_runs(self) -> list[LiveRun]:
        """Runs of this process still in progress, in the current and the retired engines (any thread)."""
        engines = [self.engine, *self.retired]
        return [run for engine in engines if engine is not None for run in engine.dispatcher.claimed_runs()]

    def _may_dispatch(self) -> Term | None:
        """The term to claim fires under, or None; its ``is_current`` also checks the host lock."""
        if self.flags.stop.is_set() or self.backend is None or not self.lock.still_valid():
            return None
        term = self.backend.leadership.current_term()
        if term is None or term.token is None:
            return term  # single host: the term is the host lock already
        lease_current, lock = term.is_current, self.lock
        return dataclasses.replace(term, is_current=lambda: lock.still_valid() and lease_current())

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
        self._retire_engine()
        # Claimed fires queued for a job thread start within moments: let them, then hand over.
        started_by = time.monotonic() + _START_WAIT
        while any(engine.unstarted() for engine in self.retired) and time.monotonic() < started_by:
            time.sleep(0.02)
        backend.leadership.release()  # another node leads now; running jobs see ctx.is_current() False
        deadline = time.monotonic() + grace
        while not all(engine.idle() for engine in self.retired) and time.monotonic() < deadline:
            time.sleep(0.05)  # their running markers are kept alive meanwhile (max_instances)
        abandoned = [job for engine in self.retired for job in engine.abandon()]
        for engine in self.retired:
            if not engine.flush_records(5.0):
                log.warning("some run records could not be written before exit")
        if abandoned:
            log.warning(
                "stop grace of %gs expired with job(s) still running: %s; abandoning them", grace, ", ".join(abandoned)
            )
        log.info("scheduler stopped (pid %d)", os.getpid())
        return 1 if abandoned else 0

    def _leading(self, backend: Backend) -> bool:
        """Leader in status means dispatching: the lock, the lease, and a running engine."""
        return self.lock.held and backend.leadership.leading and self.engine is not None


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (never 3 or 4, which old gunicorns treat as fatal)."""
    args = decode_runner_args(argv)
    flags = SignalFlags()
    if not die_with_parent(args.parent_pid):
        return 0
    mask_output()  # the jobs' print() and stderr, and a SystemExit at their import, mask known secrets
    try:
        settings = Settings.from_env()
        configure_logging(settings.log_level, settings.log_format)
        jobs = load_jobs(settings.jobs_ref)
        ensure_private_dir(settings.lock_dir, "SCHEDULER_LOCK_DIR")
        check_regular(settings.lock_path, "host lock")  # a FIFO or directory there: refused now, not each try
        ensure_private_dir(settings.state_dir, "SCHEDULER_STATE_DIR")
        check_redis(settings)
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
