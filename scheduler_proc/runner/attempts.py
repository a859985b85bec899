"""One fire's calls of its job: the first, and its retries when the job asks for them.

A retry is the same fire: the same run id, scheduled time and fencing token, never a new
claim. It starts only while the leadership term the fire was claimed under is current, and
before the job's next scheduled fire (so retries never pile onto the next run); a run that
timed out is retried only with ``retry_timeouts=True``. The waits double from
``retry_delay`` up to ``MAX_RETRY_DELAY``.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from scheduler_proc import clock
from scheduler_proc.formats.vocabulary import RunOutcome
from scheduler_proc.jobs import JobSpec, RunContext
from scheduler_proc.redact import error_summary
from scheduler_proc.runner.calling import JobFailed, call_job

log = logging.getLogger("scheduler.fire")

MAX_RETRY_DELAY = 300.0
#: A retry's wait is cut short this often to see whether the term is still current.
_CHECK_EVERY = 0.25


@dataclass(frozen=True)
class Outcome:
    """How a fire's calls ended: the last one's outcome and error, and how many there were."""

    outcome: RunOutcome  # success, error or timed_out
    error: str | None
    attempts: int
    exception: BaseException | None = None  # the last attempt's, when it ran in this process


def run_attempts(spec: JobSpec, ctx: RunContext, fields: str, retried: Callable[[], None]) -> Outcome:
    """Call the job, and again as the job's retries allow (see the module docstring)."""
    outcome, error, exception = _attempt(spec, ctx, fields)
    attempts = 1
    while _may_retry(spec, outcome, attempts):
        wait = min(spec.retry_delay * 2 ** (attempts - 1), MAX_RETRY_DELAY)
        why = _no_retry(spec, ctx, clock.wall() + wait)
        if why:
            log.warning("fire not retried %s: %s", fields, why)
            break
        log.warning(
            "fire retried %s in %.1fs: attempt %d of %d ended %s", fields, wait, attempts, spec.retries + 1, outcome
        )
        if not _wait_while_current(ctx, wait):
            log.warning("fire not retried %s: the leadership term ended during the wait", fields)
            break
        retried()
        attempts += 1
        outcome, error, exception = _attempt(spec, ctx, fields)
    return Outcome(outcome, error, attempts, exception)


def _attempt(spec: JobSpec, ctx: RunContext, fields: str) -> tuple[RunOutcome, str | None, BaseException | None]:
    try:
        stopped = call_job(spec, ctx)
    except JobFailed as exc:  # in a process of its own, which printed its traceback
        log.error("fire failed %s: %s", fields, exc)
        return "error", str(exc), None
    except BaseException as exc:  # a job must never take the scheduler down
        log.error("fire failed %s\n%s", fields, traceback.format_exc().rstrip())
        return "error", error_summary(exc), exc
    if stopped is not None:
        log.warning("fire timed out %s: %s", fields, stopped.detail)
        return "timed_out", stopped.detail, None
    return "success", None, None


def _may_retry(spec: JobSpec, outcome: RunOutcome, attempts: int) -> bool:
    retryable = outcome == "error" or (outcome == "timed_out" and spec.retry_timeouts)
    return retryable and attempts <= spec.retries


def _no_retry(spec: JobSpec, ctx: RunContext, starts_at: float) -> str:
    """Why a retry that would start at ``starts_at`` must not ('' if it may)."""
    if not ctx.is_current():
        return "the leadership term it was claimed under has ended"
    following = _next_fire(spec, ctx.scheduled_at)
    if following is not None and starts_at >= following.timestamp():
        return f"the retry would start after the job's next fire ({following.isoformat()})"
    return ""


def _next_fire(spec: JobSpec, scheduled_at: datetime) -> datetime | None:
    upcoming = spec.upcoming(scheduled_at + timedelta(microseconds=1), 1)
    return upcoming[0] if upcoming else None


def _wait_while_current(ctx: RunContext, seconds: float) -> bool:
    """Sleep ``seconds``; False as soon as the term ends."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if not ctx.is_current():
            return False
        time.sleep(min(left, _CHECK_EVERY))
    return ctx.is_current()
