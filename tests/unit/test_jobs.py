"""The job registry (scheduler_proc/jobs.py): ids, options, triggers and the errors of bad definitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scheduler_proc import JobDefinitionError, Jobs, RunContext


def test_job_ids_default_to_module_and_function_and_options_have_defaults() -> None:
    jobs = Jobs()

    @jobs.cron("*/5 * * * *")
    def cleanup() -> None: ...

    @jobs.every(minutes=2, id="sync", coalesce=True, max_instances=2, misfire_grace_time=5)
    async def sync(ctx: RunContext) -> None: ...

    spec = jobs.get(f"{__name__}.test_job_ids_default_to_module_and_function_and_options_have_defaults.cleanup")
    assert spec is not None and not spec.wants_context and not spec.coalesce and spec.max_instances == 1
    assert spec.description == "cron[*/5 * * * *] UTC"
    sync_spec = jobs.get("sync")
    assert sync_spec is not None and sync_spec.wants_context and sync_spec.is_async
    assert (sync_spec.coalesce, sync_spec.max_instances, sync_spec.misfire_grace_time) == (True, 2, 5.0)


def test_intervals_are_anchored_so_every_node_computes_the_same_fires() -> None:
    jobs = Jobs()

    @jobs.every(minutes=5, id="five")
    def five() -> None: ...

    spec = jobs.get("five")
    assert spec is not None
    now = datetime(2026, 11, 30, 10, 2, 17, tzinfo=UTC)
    assert spec.trigger.get_next_fire_time(None, now) == datetime(2026, 11, 30, 10, 5, tzinfo=UTC)


def _noop() -> None: ...


def _two(a: int, b: int) -> None: ...


def _untyped(ctx) -> None: ...  # type: ignore[no-untyped-def]


@pytest.mark.parametrize(
    "define, message",
    [
        (lambda j: j.cron("* * *")(_noop), "invalid crontab '\\* \\* \\*': 3 field\\(s\\); use 5 fields"),
        (lambda j: j.cron("0 9 * * *", timezone="Mars/Base")(_noop), "unknown timezone 'Mars/Base'"),
        (lambda j: j.every(seconds=0)(_noop), "too short"),
        (lambda j: j.every(seconds=-1)(_noop), "must be a finite number >= 0"),
        (lambda j: j.every(seconds=1, max_instances=0)(_noop), "max_instances=0"),
        (lambda j: j.every(seconds=1, id="has space")(_noop), "job id 'has space' is invalid"),
        (lambda j: j.every(seconds=1)(lambda: None), "has no usable default job id .*; pass id="),
        (lambda j: j.every(seconds=1)(_two), "takes 2 parameters"),
        (lambda j: j.every(seconds=1)(_untyped), "parameter 'ctx' is not annotated RunContext"),
    ],
)
def test_bad_definitions_raise_with_the_job_named(define, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(JobDefinitionError, match=message):
        define(Jobs())


def test_string_annotation_of_run_context_is_accepted() -> None:
    jobs = Jobs()

    def job(ctx: RunContext) -> None: ...

    jobs.every(seconds=1, id="s")(job)
    spec = jobs.get("s")
    assert spec is not None and spec.wants_context


def test_intervals_follow_the_epochs_grid_unless_anchored() -> None:
    """every(minutes=7) fires at 00:02, 00:09, ... on 2026-12-04 UTC (the epoch's grid; the docs
    promised ':00, :05' without saying so); start= anchors the grid and no fire precedes it."""
    jobs = Jobs()
    jobs.every(minutes=7, id="seven")(lambda: None)
    jobs.every(hours=5, id="five-hours")(lambda: None)
    nine = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    jobs.every(minutes=7, id="anchored", start=nine)(lambda: None)
    midnight = datetime(2026, 12, 4, tzinfo=UTC)
    seven, five, anchored = (jobs.get(name) for name in ("seven", "five-hours", "anchored"))
    assert seven is not None and five is not None and anchored is not None
    assert [t.strftime("%H:%M") for t in seven.upcoming(midnight, 3)] == ["00:02", "00:09", "00:16"]
    assert [t.strftime("%H:%M") for t in five.upcoming(midnight, 2)] == ["01:00", "06:00"]
    assert [t.strftime("%H:%M") for t in anchored.upcoming(midnight, 2)] == ["09:00", "09:07"]
    assert anchored.upcoming(nine + timedelta(minutes=8), 1) == [nine + timedelta(minutes=14)]
    assert anchored.description == "every 7m from 2026-12-04T09:00:00+00:00"
    with pytest.raises(JobDefinitionError, match=r"job 'naive': start=.* is not a datetime with a time zone"):
        jobs.every(minutes=7, id="naive", start=datetime(2026, 1, 1))(lambda: None)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"retries": -1}, r"job 'r': retries=-1 must be a whole number from 0 to 100"),
        ({"retries": 2.5}, r"retries=2\.5 must be a whole number"),
        ({"retries": 1, "retry_delay": 0}, r"retry_delay=0 must be a number of seconds, at least 0\.1"),
        ({"retries": 1, "retry_timeouts": "yes"}, r"retry_timeouts='yes' must be True or False"),
        ({"timeout": 0}, r"job 'r': timeout=0 must be a positive number of seconds"),
        ({"timeout": float("nan")}, r"timeout=nan must be a finite number of seconds"),
    ],
)
def test_bad_retry_and_timeout_options_name_the_job_and_the_fix(options: dict[str, object], message: str) -> None:
    with pytest.raises(JobDefinitionError, match=message):
        Jobs().every(seconds=5, id="r", **options)(lambda: None)  # type: ignore[arg-type]
