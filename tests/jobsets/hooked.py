"""Hooks as error reporting sets them up in a jobs module (Sentry style): every event is appended
to $HOOK_LOG as JSON; one hook raises on purpose (the run must not notice)."""

from __future__ import annotations

import json
import os

from scheduler_proc import HookCall, Jobs, RunContext

jobs = Jobs()


@jobs.every(seconds=1, id="fine")
def fine(ctx: RunContext) -> None: ...


@jobs.every(seconds=1, id="broken")
def broken(ctx: RunContext) -> None:
    raise KeyError("customer 42")


def _note(call: HookCall) -> None:
    entry = {
        "event": call.event,
        "job": call.ctx.job_id,
        "run_id": call.ctx.run_id,
        "term": call.ctx.fencing_token,
        "outcome": call.outcome,
        "error": call.error,
        "exception": type(call.exception).__name__ if call.exception else None,
        "pid": os.getpid(),
    }
    with open(os.environ["HOOK_LOG"], "a") as log:
        log.write(json.dumps(entry) + "\n")


for event in ("start", "success", "failure", "timeout", "skip"):
    jobs.hook(event)(_note)


@jobs.hook("failure")
def careless(call: HookCall) -> None:
    raise RuntimeError("the hook itself is broken")
