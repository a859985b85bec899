"""A fire's calls of its job (scheduler_proc/runner/attempts.py): retries of the same fire with
doubling waits, only while its term is current and never past the job's next fire. In a real
runner (the history, the metrics): tests/integration/test_retries.py."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from scheduler_proc import Jobs, RunContext
from scheduler_proc.jobs import JobSpec
from scheduler_proc.runner.attempts import run_attempts


def _flaky(jobs: Jobs, failures: int, **options: object) -> tuple[JobSpec, list[str]]:
    """A job that fails ``failures`` times, then succeeds; it records each call's run id."""
    calls: list[str] = []

    @jobs.every(id="flaky", **options)  # type: ignore[arg-type]
    def flaky(ctx: RunContext) -> None:
        calls.append(ctx.run_id)
        if len(calls) <= failures:
            raise ValueError(f"attempt {len(calls)} failed")

    spec = jobs.get("flaky")
    assert spec is not None
    return spec, calls


def _ctx(current: list[bool] | None = None) -> RunContext:
    flag = current if current is not None else [True]
    return RunContext("flaky", datetime.now(UTC), "web-1", 7, "run-1", lambda: flag[0])


def test_a_failing_fire_is_retried_as_the_same_run_until_it_succeeds() -> None:
    spec, calls = _flaky(Jobs(), failures=2, seconds=600, retries=3, retry_delay=0.1)
    retried: list[None] = []
    started = time.monotonic()
    outcome = run_attempts(spec, _ctx(), "job=flaky", lambda: retried.append(None))
    assert (outcome.outcome, outcome.error, outcome.attempts) == ("success", None, 3)
    assert calls == ["run-1"] * 3 and len(retried) == 2
    assert time.monotonic() - started >= 0.1 + 0.2, "waits of 0.1 s, then 0.2 s"


def test_the_last_error_is_kept_when_the_retries_run_out() -> None:
    spec, calls = _flaky(Jobs(), failures=5, seconds=600, retries=1, retry_delay=0.1)
    outcome = run_attempts(spec, _ctx(), "job=flaky", lambda: None)
    assert (outcome.outcome, outcome.error, outcome.attempts) == ("error", "ValueError: attempt 2 failed", 2)
    assert isinstance(outcome.exception, ValueError) and len(calls) == 2


@pytest.mark.parametrize(
    ("options", "current"),
    [
        ({"seconds": 600, "retries": 3, "retry_delay": 0.1}, False),  # the term ended
        ({"seconds": 1, "retries": 3, "retry_delay": 5}, True),  # the retry would start after the next fire
    ],
)
def test_no_retry_when_the_term_ended_or_the_next_fire_comes_first(options: dict[str, object], current: bool) -> None:
    spec, calls = _flaky(Jobs(), failures=1, **options)
    outcome = run_attempts(spec, _ctx([current]), "job=flaky", lambda: None)
    assert (outcome.outcome, outcome.attempts) == ("error", 1) and len(calls) == 1
