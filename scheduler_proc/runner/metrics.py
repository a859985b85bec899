"""Prometheus metrics, recorded in the runner and published as a file.

Every HTTP worker serves the same file, so a scrape does not depend on which worker
answers (prometheus_client's per-process counters would).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from scheduler_proc.contracts import JobRow
from scheduler_proc.securedir import write_private

#: Histograms cost ~16 series per label value; beyond this many jobs they share job="_other".
MAX_HISTOGRAM_JOBS = 200
_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    """The scheduler's metrics for one runner process."""

    def __init__(self, node: str) -> None:
        self.node = node
        self.registry = CollectorRegistry()
        self.fires = Counter(
            "scheduler_fires_total", "Fires run, by job and outcome.", ["job", "outcome"], registry=self.registry
        )
        self.refused = Counter(
            "scheduler_fires_refused_total",
            "Fires the ledger refused (duplicate, fenced, unreplicated, unavailable).",
            ["job", "reason"],
            registry=self.registry,
        )
        self.retries = Counter(
            "scheduler_fire_retries_total",
            "Retries of failed runs (the same fire called again), by job.",
            ["job"],
            registry=self.registry,
        )
        self.duration = Histogram("scheduler_job_duration_seconds", "Job run time.", ["job"], registry=self.registry)
        self.lag = Histogram(
            "scheduler_fire_lag_seconds",
            "Actual start minus scheduled time.",
            ["job"],
            buckets=_LAG_BUCKETS,
            registry=self.registry,
        )
        self.transitions = Counter(
            "scheduler_leader_transitions_total",
            "Times this node started or stopped leading.",
            ["node"],
            registry=self.registry,
        )
        self.renewal_failures = Counter(
            "scheduler_lease_renewal_failures_total",
            "Lease renewals that failed or found the lease gone.",
            ["node"],
            registry=self.registry,
        )
        self.is_leader = Gauge(
            "scheduler_is_leader", "1 if this node leads (runs jobs).", ["node"], registry=self.registry
        )
        self.next_run = Gauge(
            "scheduler_next_run_timestamp_seconds", "Next scheduled fire, Unix time.", ["job"], registry=self.registry
        )
        self.clock_offset_seconds = Gauge(
            "scheduler_clock_offset_seconds",
            "This host's clock minus Redis's, measured at each lease call (cluster mode).",
            ["node"],
            registry=self.registry,
        )
        self.is_leader.labels(node).set(0)
        self._leading = False
        self._histogram_jobs: set[str] = set()
        self._fire_series: dict[tuple[str, str], tuple[Any, Any, Any]] = {}

    def fire_finished(self, job: str, outcome: str, duration: float, lag: float) -> None:
        series = self._fire_series.get((job, outcome))
        if series is None:  # labels() validates and locks: once per job and outcome, not per fire
            label = self._histogram_label(job)
            series = self._fire_series[(job, outcome)] = (
                self.fires.labels(job, outcome),
                self.duration.labels(label),
                self.lag.labels(label),
            )
        fires, durations, lags = series
        fires.inc()
        durations.observe(duration)
        lags.observe(max(0.0, lag))

    def _histogram_label(self, job: str) -> str:
        if job in self._histogram_jobs or len(self._histogram_jobs) < MAX_HISTOGRAM_JOBS:
            self._histogram_jobs.add(job)
            return job
        return "_other"

    def fire_retried(self, job: str) -> None:
        self.retries.labels(job).inc()

    def fire_refused(self, job: str, reason: str) -> None:
        self.refused.labels(job, reason).inc()

    def leading(self, leading: bool) -> None:
        if leading != self._leading:
            self._leading = leading
            self.transitions.labels(self.node).inc()
            self.is_leader.labels(self.node).set(1 if leading else 0)

    def clock_offset(self, seconds: float) -> None:
        self.clock_offset_seconds.labels(self.node).set(seconds)

    def renewal_failed(self) -> None:
        self.renewal_failures.labels(self.node).inc()

    def next_runs(self, jobs: list[JobRow]) -> None:
        for job in jobs:
            when = job["next_run_at"]
            self.next_run.labels(job["id"]).set(datetime.fromisoformat(when).timestamp() if when else 0)

    def write(self, path: Path) -> None:
        """Publish atomically (mode 0600) for the HTTP workers."""
        write_private(path, generate_latest(self.registry))
