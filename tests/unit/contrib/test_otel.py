"""One OpenTelemetry span per fire (scheduler_proc/contrib/otel.py), with the real SDK and an
in-memory exporter: the hooks trace_fires registers are called as a runner calls them. Spans
from a real runner: tests/integration/test_hooks.py."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from scheduler_proc import Jobs, RunContext
from scheduler_proc.contrib.otel import trace_fires
from scheduler_proc.errors import JobDefinitionError
from scheduler_proc.hooks import HookCall

AT = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    """The process's tracer provider (OpenTelemetry takes one per process), exporting here too."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return memory


@pytest.fixture
def spans(exporter: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    exporter.clear()
    yield exporter
    exporter.clear()


def _traced() -> Jobs:
    jobs = Jobs()
    trace_fires(jobs)
    return jobs


def _only(spans: InMemorySpanExporter) -> ReadableSpan:
    [span] = spans.get_finished_spans()
    return span


def test_a_fire_that_succeeds_is_one_span_with_its_attributes(spans: InMemorySpanExporter) -> None:
    jobs, ctx = _traced(), RunContext("nightly", AT, "web-1", 7, "run-1")
    jobs.hooks.call(HookCall("start", ctx))
    assert spans.get_finished_spans() == ()  # open until the fire ends
    jobs.hooks.call(HookCall("success", ctx, outcome="success", duration=0.5, attempts=2))
    span = _only(spans)
    assert span.name == "fire nightly" and span.status.status_code is StatusCode.UNSET
    assert dict(span.attributes or {}) == {
        "scheduler.job_id": "nightly",
        "scheduler.scheduled_at": "2026-12-04T03:00:00+00:00",
        "scheduler.node": "web-1",
        "scheduler.run_id": "run-1",
        "scheduler.fencing_token": 7,
        "scheduler.outcome": "success",
        "scheduler.attempts": 2,
    }


def test_a_failure_is_an_error_span_with_the_exception(spans: InMemorySpanExporter) -> None:
    jobs, ctx = _traced(), RunContext("nightly", AT, "web-1", None, "run-2")
    jobs.hooks.call(HookCall("start", ctx))
    error = ValueError("bad row")
    jobs.hooks.call(HookCall("failure", ctx, outcome="error", error="ValueError: bad row", exception=error))
    span = _only(spans)
    assert "scheduler.fencing_token" not in (span.attributes or {})  # single host: no token
    assert (span.status.status_code, span.status.description) == (StatusCode.ERROR, "ValueError: bad row")
    [event] = span.events
    assert event.name == "exception" and (event.attributes or {})["exception.type"] == "ValueError"


def test_a_timeout_in_a_child_process_is_an_error_span_without_an_exception(spans: InMemorySpanExporter) -> None:
    jobs, ctx = _traced(), RunContext("slow", AT, "web-1", 3, "run-3")
    jobs.hooks.call(HookCall("start", ctx))
    jobs.hooks.call(HookCall("timeout", ctx, outcome="timed_out"))
    span = _only(spans)
    assert (span.status.status_code, span.status.description) == (StatusCode.ERROR, "timed_out")
    assert span.events == () and (span.attributes or {})["scheduler.outcome"] == "timed_out"


def test_runs_at_once_each_end_their_own_span_and_an_end_without_a_start_is_ignored(
    spans: InMemorySpanExporter,
) -> None:
    jobs = _traced()
    first, second = RunContext("a", AT, "web-1", 1, "run-a"), RunContext("b", AT, "web-1", 1, "run-b")
    jobs.hooks.call(HookCall("start", first))
    jobs.hooks.call(HookCall("start", second))
    jobs.hooks.call(HookCall("success", second, outcome="success"))
    jobs.hooks.call(HookCall("success", RunContext("c", AT, "web-1", 1, "run-c"), outcome="success"))
    jobs.hooks.call(HookCall("failure", first, outcome="error", error="boom"))
    assert [(s.name, s.status.status_code) for s in spans.get_finished_spans()] == [
        ("fire b", StatusCode.UNSET),
        ("fire a", StatusCode.ERROR),
    ]
    jobs.hooks.call(HookCall("success", first, outcome="success"))  # its span ended already
    assert len(spans.get_finished_spans()) == 2


def test_a_skipped_fire_opens_no_span(spans: InMemorySpanExporter) -> None:
    jobs, ctx = _traced(), RunContext("nightly", AT, "web-1", 7, "run-4")
    jobs.hooks.call(HookCall("skip", ctx, outcome="skipped"))
    assert spans.get_finished_spans() == ()


def test_without_the_opentelemetry_api_the_jobs_module_is_told_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # as if not installed: its import fails
    with pytest.raises(JobDefinitionError, match=r"pip install 'scheduler-proc\[otel\]'"):
        trace_fires(Jobs())
