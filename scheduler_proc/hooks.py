"""Hooks: your functions called around each fire, in the runner process (see docs/jobs.md#hooks).

The runner is a fresh interpreter that imports your jobs module, not your app's ``main.py``:
error reporting or tracing set up there never sees a job. Set it up in the jobs module and
register hooks on the ``Jobs`` registry::

    @jobs.hook("failure")
    def report(call: HookCall) -> None:
        sentry_sdk.capture_exception(call.exception)

A hook runs in the job's thread, before the job (``start``) or after its last attempt
(``success``, ``failure``, ``timeout``), or when a claimed fire is not run (``skip``). A hook
that raises is logged and never changes the run or the scheduler.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, get_args

from scheduler_proc.errors import JobDefinitionError
from scheduler_proc.formats.vocabulary import RunOutcome

if TYPE_CHECKING:  # jobs.py imports this module: Jobs.hook registers here
    from scheduler_proc.jobs import RunContext

log = logging.getLogger("scheduler.hooks")

HookEvent = Literal["start", "success", "failure", "timeout", "skip"]
EVENTS: tuple[str, ...] = get_args(HookEvent)


@dataclass(frozen=True)
class HookCall:
    """What a hook is told: the event and the run's context, and for an ended run how it ended."""

    event: HookEvent
    ctx: RunContext
    outcome: RunOutcome | None = None  # success, error, timed_out, skipped; None at start
    error: str | None = None  # the error's one-line summary (secrets masked)
    exception: BaseException | None = None  # the job's exception, when it ran in the runner's thread
    duration: float | None = None  # seconds, first attempt's start to the last one's end
    attempts: int = 1


Hook = Callable[[HookCall], None]


@dataclass
class Hooks:
    """The hooks of one ``Jobs`` registry, by event."""

    by_event: dict[str, list[Hook]] = field(default_factory=dict)

    @staticmethod
    def check(event: str) -> None:
        if event not in EVENTS:
            raise JobDefinitionError(f"hook event {event!r} is unknown; use one of {', '.join(EVENTS)}")

    def add(self, event: str, hook: Hook) -> None:
        self.check(event)
        if not callable(hook):
            raise JobDefinitionError(f"hook for {event!r}: {hook!r} is not a function")
        self.by_event.setdefault(event, []).append(hook)

    def call(self, call: HookCall) -> None:
        """Call each hook of ``call.event``; one that raises is logged with its traceback, then the next runs."""
        for hook in self.by_event.get(call.event, ()):
            try:
                hook(call)
            except BaseException:  # a hook's sys.exit() must not skip the run's record either
                log.exception(
                    "hook %s for %s of job=%s run_id=%s failed (the run is not affected)",
                    getattr(hook, "__qualname__", repr(hook)),
                    call.event,
                    call.ctx.job_id,
                    call.ctx.run_id,
                )


#: The event that follows each outcome of a run.
AFTER: dict[str, HookEvent] = {"success": "success", "error": "failure", "timed_out": "timeout", "skipped": "skip"}
