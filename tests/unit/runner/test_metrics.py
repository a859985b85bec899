"""The runner's metrics (scheduler_proc/runner/metrics.py): missed fires and the cap on job labels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scheduler_proc import Jobs


def test_fires_missed_before_a_start_are_counted_up_to_a_limit_and_once_per_process() -> None:
    from scheduler_proc.runner.metrics import Metrics

    jobs = Jobs()
    jobs.every(seconds=2, id="t")(lambda: None)
    [spec] = list(jobs)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    assert spec.fires_between(base, base + timedelta(seconds=10), 1000) == 5  # :00 :02 :04 :06 :08
    assert spec.fires_between(base + timedelta(seconds=1), base + timedelta(seconds=10), 1000) == 4
    assert spec.fires_between(base, base + timedelta(days=1), 3) == 3
    metrics = Metrics("n")
    assert metrics.missed_since("t", base, base + timedelta(seconds=10)) == base
    # A later term of the same process resumes from the same last claim: only the new fires count.
    assert metrics.missed_since("t", base, base + timedelta(seconds=16)) == base + timedelta(seconds=10)


def test_histograms_stop_adding_job_labels_past_the_cap() -> None:
    from scheduler_proc.runner.metrics import MAX_HISTOGRAM_JOBS, Metrics

    metrics = Metrics("n")
    for index in range(MAX_HISTOGRAM_JOBS + 5):
        metrics.fire_finished(f"job-{index}", "success", 0.01, 0.002, 1000.0)
    text = metrics.registry.get_sample_value
    assert text("scheduler_fires_total", {"job": f"job-{MAX_HISTOGRAM_JOBS + 4}", "outcome": "success"}) == 1
    assert text("scheduler_job_duration_seconds_count", {"job": f"job-{MAX_HISTOGRAM_JOBS - 1}"}) == 1
    assert text("scheduler_job_duration_seconds_count", {"job": f"job-{MAX_HISTOGRAM_JOBS}"}) is None
    assert text("scheduler_job_duration_seconds_count", {"job": "_other"}) == 5
