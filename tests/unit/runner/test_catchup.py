"""CatchUp: each job resumes after its last claim within its grace; paused jobs get no first fire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scheduler_proc import Jobs
from scheduler_proc.coordination.local.ledger import LocalLedger
from scheduler_proc.runner.catchup import CatchUp, first_after

from .runner_support import CURRENT, specs_of


def _jobs() -> Jobs:
    jobs = Jobs()

    @jobs.every(seconds=10, id="ten", misfire_grace_time=60)
    def ten() -> None: ...

    @jobs.every(seconds=10, id="paused")
    def paused() -> None: ...

    return jobs


def test_first_fires_resume_after_the_last_claim_and_skip_paused_jobs(ledger: LocalLedger) -> None:
    specs = specs_of(_jobs())
    missed: list[tuple[str, datetime, datetime]] = []
    catch_up = CatchUp(specs, ledger, 30, lambda *counted: missed.append(counted))
    last = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=25)
    last -= timedelta(seconds=last.second % 10)  # on the job's grid
    ledger.claim("ten", last, CURRENT, "n", "r")
    fires = catch_up.first_fires(None, {"paused"})
    assert fires == {"ten": last + timedelta(seconds=10), "paused": None}
    assert missed == []


def test_fires_older_than_the_grace_are_counted_as_missed(ledger: LocalLedger) -> None:
    specs = specs_of(_jobs())
    missed: list[tuple[str, datetime, datetime]] = []
    catch_up = CatchUp(specs, ledger, 30, lambda *counted: missed.append(counted))
    now = datetime(2026, 1, 1, 12, 0, 3, tzinfo=UTC)
    resume = catch_up.resume_at(specs["ten"], now, now, now - timedelta(hours=1))
    assert resume == datetime(2026, 1, 1, 11, 59, 10, tzinfo=UTC)  # the first fire within 60 s of grace
    [(job, first, until)] = missed
    assert (job, first, until) == ("ten", datetime(2026, 1, 1, 11, 0, 10, tzinfo=UTC), now - timedelta(seconds=60))


def test_a_job_never_claimed_starts_after_the_floor(ledger: LocalLedger) -> None:
    specs = specs_of(_jobs())
    catch_up = CatchUp(specs, ledger, 30, lambda *counted: None)
    now = datetime(2026, 1, 1, 12, 0, 3, tzinfo=UTC)
    assert catch_up.resume_at(specs["ten"], now, now, None) == datetime(2026, 1, 1, 12, 0, 10, tzinfo=UTC)
    assert first_after(specs["ten"], datetime(2026, 1, 1, 12, 0, 10, tzinfo=UTC)) == datetime(
        2026, 1, 1, 12, 0, 20, tzinfo=UTC
    )
