"""Prometheus metrics, recorded in the runner and published as a file.

Every HTTP worker serves the same file, so a scrape does not depend on which worker
answers (prometheus_client's per-process counters would). The names users alert on
(deploy/prometheus/scheduler-alerts.yml) and graph (deploy/grafana/scheduler.json) are
all declared here; tests/integration/test_metrics.py checks that those files name no other.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest

from scheduler_proc import clock
from scheduler_proc.coordination.records import RunRecord
from scheduler_proc.formats.status import JobRow
from scheduler_proc.formats.vocabulary import LastOutcome, Mode, RunOutcome
from scheduler_proc.securedir import write_private

#: Histograms cost ~16 series per label value; beyond this many jobs they share job="_other".
MAX_HISTOGRAM_JOBS = 200
_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    """The scheduler's metrics for one runner process."""

    def __init__(self, node: str) -> None:
        # No *_created series: a sample per counter and histogram that nobody alerts on. The flag
        # is prometheus_client's own (global to the runner process, which exports only these).
        disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus_client leaves it untyped
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
        self.timeouts = Counter(
            "scheduler_fire_timeouts_total",
            "Runs stopped because they passed their job's timeout, by job.",
            ["job"],
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
        self._declare_alerting()
        self.is_leader.labels(node).set(0)
        self.runner_start.labels(node).set(clock.wall())
        self._leading = False
        self._last: dict[tuple[str, str], float] = {}  # (job, success or failure): the latest finish published
        self._last_lock = threading.Lock()  # the recorder's thread and the publisher's both set them
        self._missed_until: dict[str, datetime] = {}  # per job: missed fires before it are counted
        self._histogram_jobs: set[str] = set()
        self._fire_series: dict[tuple[str, str], tuple[Any, Any, Any]] = {}

    def _declare_alerting(self) -> None:
        """The series alert rules and dashboards read (see docs/operations.md, "Alerts and dashboard")."""
        self.last_success = Gauge(
            "scheduler_job_last_success_timestamp_seconds",
            "When the job's latest successful run ended, Unix time (seeded from the ledger at start).",
            ["job"],
            registry=self.registry,
        )
        self.last_failure = Gauge(
            "scheduler_job_last_failure_timestamp_seconds",
            "When the job's latest failed run ended, Unix time (seeded from the ledger at start).",
            ["job"],
            registry=self.registry,
        )
        self.running = Gauge(
            "scheduler_jobs_running", "Runs in progress in this process.", ["job"], registry=self.registry
        )
        self.missed = Counter(
            "scheduler_fires_missed_total",
            "Fires not run because they were later than their misfire grace.",
            ["job"],
            registry=self.registry,
        )
        self.skipped = Counter(
            "scheduler_fires_skipped_total",
            "Fires not run, by reason (max_instances, coalesced, not_current, floored, unreplicated).",
            ["job", "reason"],
            registry=self.registry,
        )
        self.interval = Gauge(
            "scheduler_job_interval_seconds",
            "Seconds between the job's next two fires (0 while it has none: paused, or not leading).",
            ["job"],
            registry=self.registry,
        )
        self.mode_info = Gauge(
            "scheduler_mode_info", "1, labelled with this scheduler's mode.", ["node", "mode"], registry=self.registry
        )
        self.runner_start = Gauge(
            "scheduler_runner_start_timestamp_seconds",
            "When this runner process started, Unix time (the supervisor restarts runners that die).",
            ["node"],
            registry=self.registry,
        )
        self.redis_up = Gauge(
            "scheduler_redis_up",
            "1 if Redis answered this node's last lease call (cluster mode on Redis only).",
            ["node"],
            registry=self.registry,
        )
        self.store_up = Gauge(
            "scheduler_store_up",
            "1 if the cluster's store (Redis or PostgreSQL, the store label) answered this node's last lease call.",
            ["node", "store"],
            registry=self.registry,
        )

    def fire_finished(self, job: str, outcome: RunOutcome, duration: float, lag: float, finished_at: float) -> None:
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
        if outcome == "timed_out":
            self.timeouts.labels(job).inc()
        self._ended(job, outcome, finished_at)

    def _ended(self, job: str, outcome: LastOutcome, finished_at: float) -> None:
        """Keep the latest: a seed read from the ledger may arrive after a newer run was counted."""
        kind = "success" if outcome == "success" else "failure"  # an error or a timeout
        with self._last_lock:
            if finished_at > self._last.get((job, kind), 0.0):
                self._last[(job, kind)] = finished_at
                (self.last_success if kind == "success" else self.last_failure).labels(job).set(finished_at)

    def seed(self, records: Iterable[RunRecord]) -> None:
        """Each job's last claimed fire, from the ledger: a restarted runner still knows its last success."""
        for record in records:
            if record.outcome in ("success", "error", "timed_out") and record.finished_at:
                self._ended(record.job_id, record.outcome, record.finished_at)

    def started(self, job: str) -> None:
        """A run of the job starts in this process."""
        self.running.labels(job).inc()

    def ended(self, job: str) -> None:
        """A run of the job ended (however it ended)."""
        self.running.labels(job).dec()

    def fire_missed(self, job: str, count: int = 1) -> None:
        """Fires dropped: later than the job's misfire grace."""
        self.missed.labels(job).inc(count)

    def missed_since(self, job: str, first: datetime, until: datetime) -> datetime:
        """Where to start counting the job's fires missed before ``until``: ``first``, or where this process's
        last such count ended (a term that ends before the job's next claim finds the same fires missed)."""
        since = max(first, self._missed_until.get(job, first))
        self._missed_until[job] = max(until, since)
        return since

    def fire_skipped(self, job: str, reason: str, count: int = 1) -> None:
        """Fires not run, for ``reason`` (see the counter's help)."""
        self.skipped.labels(job, reason).inc(count)

    def mode(self, mode: Mode, store: str | None, state: str | None) -> None:
        """The scheduler's mode, and in cluster mode whether its store answers (the lease's last call)."""
        self.mode_info.labels(self.node, mode).set(1)
        if mode == "cluster" and store and state not in (None, "unknown"):  # unknown: no lease call yet, or no lock
            self.store_up.labels(self.node, store).set(1 if state == "ok" else 0)
            if store == "redis":
                self.redis_up.labels(self.node).set(1 if state == "ok" else 0)

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
            when, fires = job["next_run_at"], job["next_fires"]
            self.next_run.labels(job["id"]).set(datetime.fromisoformat(when).timestamp() if when else 0)
            gap = datetime.fromisoformat(fires[1]) - datetime.fromisoformat(fires[0]) if len(fires) > 1 else None
            self.interval.labels(job["id"]).set(gap.total_seconds() if gap else 0)
            self.running.labels(job["id"])  # shown at 0 before the first run,
            self.missed.labels(job["id"])  # and so is this: rate() and increase() miss a counter's first sample

    def write(self, path: Path) -> None:
        """Publish atomically (mode 0600) for the HTTP workers."""
        write_private(path, generate_latest(self.registry))
