"""One OpenTelemetry span per fire, from the runner process: ``pip install 'scheduler-proc[otel]'``.

In your jobs module, after setting up your tracer provider (the runner does not import your
app's ``main.py``)::

    from scheduler_proc.contrib.otel import trace_fires
    trace_fires(jobs)

Each fire that runs gets a span ``fire <job id>`` from its start to its last attempt's end,
with the attributes ``scheduler.job_id``, ``scheduler.scheduled_at``, ``scheduler.node``,
``scheduler.fencing_token``, ``scheduler.run_id``, ``scheduler.outcome`` and
``scheduler.attempts``; a failure or a timeout sets the span's status to ERROR (and records
the exception when the job ran in the runner's thread).
"""

from __future__ import annotations

import threading
from typing import Any

from scheduler_proc.errors import JobDefinitionError
from scheduler_proc.hooks import HookCall
from scheduler_proc.jobs import Jobs


def trace_fires(jobs: Jobs, tracer_name: str = "scheduler_proc") -> None:
    """Register the hooks that make one span per fire of ``jobs``."""
    try:
        from opentelemetry import trace
        from opentelemetry.trace import Status, StatusCode
    except ImportError:
        raise JobDefinitionError(
            "trace_fires needs the OpenTelemetry API: pip install 'scheduler-proc[otel]'"
        ) from None
    tracer = trace.get_tracer(tracer_name)
    spans: dict[str, Any] = {}  # run id -> its open span
    lock = threading.Lock()

    def start(call: HookCall) -> None:
        ctx = call.ctx
        attributes: dict[str, str | int] = {
            "scheduler.job_id": ctx.job_id,
            "scheduler.scheduled_at": ctx.scheduled_at.isoformat(),
            "scheduler.node": ctx.node,
            "scheduler.run_id": ctx.run_id,
        }
        if ctx.fencing_token is not None:
            attributes["scheduler.fencing_token"] = ctx.fencing_token
        span = tracer.start_span(f"fire {ctx.job_id}", attributes=attributes)
        with lock:
            spans[ctx.run_id] = span

    def end(call: HookCall) -> None:
        with lock:
            span = spans.pop(call.ctx.run_id, None)
        if span is None:
            return
        span.set_attribute("scheduler.outcome", call.outcome or "")
        span.set_attribute("scheduler.attempts", call.attempts)
        if call.event != "success":
            if call.exception is not None:
                span.record_exception(call.exception)
            span.set_status(Status(StatusCode.ERROR, call.error or call.outcome or ""))
        span.end()

    jobs.hook("start")(start)
    for event in ("success", "failure", "timeout"):
        jobs.hook(event)(end)
