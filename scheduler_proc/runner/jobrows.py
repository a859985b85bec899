"""The job table status pages show: each job's schedule, next fires and latest run.

Built from what APScheduler holds (next run times), what the dispatcher saw (latest runs)
and the pause set; the next few fires are recomputed only when the next one changed, as
status is published about once a second for every job.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scheduler_proc.formats.status import JobRow
from scheduler_proc.jobs import JobSpec
from scheduler_proc.runner.records import JobState

#: Fires shown per job in status pages (the next one and those after it).
UPCOMING = 3


class JobRows:
    """Status rows for a fixed set of jobs, with a cache of each one's next fires."""

    def __init__(self, specs: dict[str, JobSpec]) -> None:
        self._specs = specs
        self._upcoming: dict[str, tuple[datetime | None, list[str]]] = {}

    def rows(
        self, next_runs: dict[str, datetime | None], paused: set[str], states: dict[str, JobState]
    ) -> list[JobRow]:
        """One row per job, in the registry's order."""
        rows: list[JobRow] = []
        for spec in self._specs.values():
            state = states[spec.id]
            rows.append(
                {
                    "id": spec.id,
                    "trigger": spec.description,
                    "paused": spec.id in paused,
                    "next_run_at": iso(next_runs.get(spec.id)),
                    "next_fires": self._next_fires(spec, next_runs.get(spec.id)),
                    "last_run_at": iso(state.last_run_at),
                    "last_outcome": state.last_outcome,
                }
            )
        return rows

    def _next_fires(self, spec: JobSpec, next_run: datetime | None) -> list[str]:
        """The next few fires from the one APScheduler holds (recomputed only when that one changed)."""
        cached = self._upcoming.get(spec.id)
        if cached is not None and cached[0] == next_run:
            return cached[1]
        fires = []
        if next_run is not None:
            later = spec.upcoming(next_run + timedelta(microseconds=1), UPCOMING - 1)
            fires = [fire.astimezone(UTC).isoformat() for fire in [next_run, *later]]
        self._upcoming[spec.id] = (next_run, fires)
        return fires


def iso(moment: datetime | None) -> str | None:
    """The instant in UTC, ISO 8601, as status documents spell it."""
    return None if moment is None else moment.astimezone(UTC).isoformat()
