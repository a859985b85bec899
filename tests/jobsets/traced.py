"""A jobs module that traces its fires with OpenTelemetry (scheduler_proc.contrib.otel); the SDK
exports each ended span as JSON to $SPAN_LOG."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from scheduler_proc import Jobs, RunContext
from scheduler_proc.contrib.otel import trace_fires


class _FileExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with open(os.environ["SPAN_LOG"], "a") as out:
            for span in spans:
                status = span.status.status_code.name
                out.write(json.dumps({"name": span.name, "attributes": dict(span.attributes or {}), "status": status}))
                out.write("\n")
        return SpanExportResult.SUCCESS


provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(_FileExporter()))
trace.set_tracer_provider(provider)

jobs = Jobs()
trace_fires(jobs)


@jobs.every(seconds=1, id="traced")
def traced(ctx: RunContext) -> None: ...


@jobs.every(seconds=1, id="traced-failing")
def traced_failing(ctx: RunContext) -> None:
    raise ValueError("bad row")
