"""Calling a job, within its timeout when it has one.

A run past its timeout is really stopped, and recorded only once it has ended, so
``max_instances`` counts it until then:

- an ``async def`` job is cancelled (``asyncio.timeout``) and the run ends when the
  coroutine has unwound;
- a plain ``def`` job with a timeout runs in a child process (``python -m
  scheduler_proc.job_process``: a fresh interpreter that imports the jobs module), because
  a thread cannot be stopped from outside. Past the timeout the child gets SIGTERM, then
  SIGKILL after ``KILL_AFTER`` seconds, and the run ends when it is reaped. The cost is a
  process start and the jobs module's import per run (see docs/jobs.md).

Jobs without a timeout run in the job thread, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from scheduler_proc.formats.job_request import JobRequest, encode_job_request
from scheduler_proc.jobs import JobSpec, RunContext

#: A timed-out child gets this long between SIGTERM and SIGKILL.
KILL_AFTER = 2.0


class JobFailed(Exception):
    """A job that ran in a child process raised; the child's one-line summary is the message."""


@dataclass(frozen=True)
class TimedOut:
    """The run passed its timeout and was stopped (how, for the record)."""

    detail: str


def call_job(spec: JobSpec, ctx: RunContext) -> TimedOut | None:
    """Run the job; a job's own exception propagates (JobFailed from a child); TimedOut if stopped."""
    args: tuple[Any, ...] = (ctx,) if spec.wants_context else ()
    if spec.is_async:
        return asyncio.run(_within(spec, spec.func(*args)))
    if spec.timeout is None:
        spec.func(*args)
        return None
    return _in_child(spec, ctx)


async def _within(spec: JobSpec, job: Any) -> TimedOut | None:
    if spec.timeout is None:
        await job
        return None
    try:
        async with asyncio.timeout(spec.timeout) as limit:
            await job
    except TimeoutError:
        if limit.expired():
            return TimedOut(f"ran longer than its timeout of {spec.timeout:g}s; cancelled")
        raise  # the job's own TimeoutError
    return None


def _in_child(spec: JobSpec, ctx: RunContext) -> TimedOut | None:
    assert spec.timeout is not None
    read_end, write_end = os.pipe()
    request = JobRequest(
        path=sys.path,
        job_id=spec.id,
        scheduled_at=ctx.scheduled_at.isoformat(),
        node=ctx.node,
        fencing_token=ctx.fencing_token,
        run_id=ctx.run_id,
        parent=os.getpid(),
        result_fd=write_end,
    )
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", "scheduler_proc.job_process"],
            stdin=subprocess.PIPE,
            pass_fds=(write_end,),
            text=True,
            start_new_session=True,  # a group of its own: what the job starts is stopped with it
        )
    finally:
        os.close(write_end)
    with os.fdopen(read_end, encoding="utf-8", errors="replace") as result:
        assert child.stdin is not None
        with child.stdin:
            child.stdin.write(encode_job_request(request))
        try:
            code = child.wait(spec.timeout)
        except subprocess.TimeoutExpired:
            return _stop(child, spec.timeout)
        summary = result.read().strip()
    if code != 0:
        raise JobFailed(summary or f"the job's process exited with status {code}")
    return None


def _stop(child: subprocess.Popen[str], timeout: float) -> TimedOut:
    """SIGTERM to the job's process group, then SIGKILL if the job is still there; returns once it
    is reaped (and whatever it started in its group is killed)."""
    _signal_group(child.pid, signal.SIGTERM)
    try:
        child.wait(KILL_AFTER)
        how = "stopped with SIGTERM"
    except subprocess.TimeoutExpired:
        _signal_group(child.pid, signal.SIGKILL)
        child.wait()
        how = f"it ignored SIGTERM for {KILL_AFTER:g}s and was killed (SIGKILL)"
    _signal_group(child.pid, signal.SIGKILL)  # processes the job started and left behind
    return TimedOut(f"ran longer than its timeout of {timeout:g}s; {how}")


def _signal_group(group: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, sig)
