"""JobRows: the status rows of the jobs, with their next fires and latest run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scheduler_proc.runner.jobrows import JobRows, iso
from scheduler_proc.runner.records import JobState

from .runner_support import specs_of, two_jobs


def test_rows_show_the_next_fires_pause_and_last_run() -> None:
    specs = specs_of(two_jobs())
    rows = JobRows(specs)
    at = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    states = {"t": JobState(at - timedelta(seconds=1), "success"), "c": JobState()}
    t_row, c_row = rows.rows({"t": at}, {"c"}, states)
    assert t_row["next_fires"] == [iso(at), iso(at + timedelta(seconds=1)), iso(at + timedelta(seconds=2))]
    assert (t_row["paused"], t_row["last_outcome"], t_row["last_run_at"]) == (
        False,
        "success",
        iso(states["t"].last_run_at),
    )
    assert (c_row["paused"], c_row["next_run_at"], c_row["next_fires"]) == (True, None, [])
    assert rows.rows({"t": at}, set(), states)[0]["next_fires"] is t_row["next_fires"]  # the same next run: cached
