"""Hooks around each fire (scheduler_proc/hooks.py): registered by event on a Jobs registry, called in
order; one that raises (even SystemExit) is logged and the next still runs. In a real runner, and the
OpenTelemetry span per fire: tests/integration/test_hooks.py."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from scheduler_proc import Jobs, RunContext
from scheduler_proc.errors import JobDefinitionError
from scheduler_proc.hooks import AFTER, EVENTS, HookCall

CTX = RunContext("nightly", datetime(2026, 12, 4, 3, 0, tzinfo=UTC), "web-1", 7, "run-1")


def test_hooks_of_an_event_run_in_order_and_a_raising_one_harms_none_after_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    jobs, seen = Jobs(), list[tuple[str, str | None]]()

    @jobs.hook("failure")
    def first(call: HookCall) -> None:
        seen.append(("first", call.outcome))
        raise SystemExit(3)

    @jobs.hook("failure")
    def second(call: HookCall) -> None:
        seen.append(("second", call.error))

    @jobs.hook("success")
    def never(call: HookCall) -> None:
        seen.append(("never", None))

    with caplog.at_level(logging.ERROR, logger="scheduler.hooks"):
        jobs.hooks.call(HookCall("failure", CTX, outcome="error", error="ValueError: bad row"))
    assert seen == [("first", "error"), ("second", "ValueError: bad row")]
    [record] = caplog.records
    assert (
        "hook " in record.getMessage() and "first for failure of job=nightly run_id=run-1 failed" in record.getMessage()
    )


def test_an_unknown_event_or_a_hook_that_is_no_function_is_refused_at_import() -> None:
    with pytest.raises(JobDefinitionError, match="hook event 'finish' is unknown; use one of start, success"):
        Jobs().hook("finish")  # type: ignore[arg-type]
    with pytest.raises(JobDefinitionError, match="is not a function"):
        Jobs().hooks.add("start", "print")  # type: ignore[arg-type]


def test_every_outcome_leads_to_a_hook_event() -> None:
    assert set(AFTER.values()) <= set(EVENTS) and set(AFTER) == {"success", "error", "timed_out", "skipped"}
