"""How a runner ends: a stop hands the lease over and lets running jobs finish; a hang exits at once.

A stop starts no new fires, lets claimed fires that wait for a job thread start (nobody else
will run them), hands leadership over, then waits up to the stop grace for running jobs and
records the rest as abandoned. A hung dispatch loop gives the lease up, records what it can
within a bound, and exits so that the supervisor starts a new runner.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import NoReturn

from scheduler_proc.coordination.interfaces import Leadership
from scheduler_proc.runner.engine import Engine
from scheduler_proc.runner.watchdog import dump_stacks

log = logging.getLogger("scheduler.runner")

EXIT_HUNG = 70  # EX_SOFTWARE; never 3 or 4 (see scheduler_proc.runner.process.main)
#: How long a watchdog exit may spend recording the runs in flight (the supervisor waits for beats).
_EXIT_RECORDS_WAIT = 2.0
#: At a stop, claimed fires waiting for a job thread get this long to start before the lease is handed over.
_START_WAIT = 0.5


def finish_running(retired: list[Engine], leadership: Leadership, grace: float) -> int:
    """Hand leadership over once claimed fires started; wait up to ``grace`` for the jobs. 1 if some were abandoned."""
    # Claimed fires queued for a job thread start within moments: let them, then hand over.
    started_by = time.monotonic() + _START_WAIT
    while any(engine.unstarted() for engine in retired) and time.monotonic() < started_by:
        time.sleep(0.02)
    leadership.release()  # another node leads now; running jobs see ctx.is_current() False
    deadline = time.monotonic() + grace
    while not all(engine.idle() for engine in retired) and time.monotonic() < deadline:
        time.sleep(0.05)  # their running markers are kept alive meanwhile (max_instances)
    abandoned = [job for engine in retired for job in engine.abandon()]
    for engine in retired:
        if not engine.flush_records(5.0):
            log.warning("some run records could not be written before exit")
    if abandoned:
        log.warning(
            "stop grace of %gs expired with job(s) still running: %s; abandoning them", grace, ", ".join(abandoned)
        )
    log.info("scheduler stopped (pid %d)", os.getpid())
    return 1 if abandoned else 0


def exit_hung(why: str, leadership: Leadership, engines: Callable[[], list[Engine]]) -> NoReturn:
    """The dispatch loop hangs: stacks to the log, the lease given up, what can be recorded recorded; exit."""
    dump_stacks(why)
    with contextlib.suppress(Exception):
        leadership.release()
    record_what_we_can(engines)
    logging.shutdown()
    os._exit(EXIT_HUNG)


def record_what_we_can(engines: Callable[[], list[Engine]]) -> None:
    """Before the watchdog's exit: runs still going are recorded as abandoned and finished ones
    are written, within a bound (a hung loop may hold the locks this needs: then we go anyway)."""

    def record() -> None:
        alive = engines()
        abandoned = [job for engine in alive for job in engine.abandon()]
        for engine in alive:
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
