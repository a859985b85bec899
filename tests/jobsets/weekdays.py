"""Cron jobs for the preview tests: a weekday stand-up and a nightly job in New York."""

from __future__ import annotations

from scheduler_proc import Jobs

jobs = Jobs(timezone="America/New_York")


@jobs.cron("0 9 * * 1-5", id="standup")
def standup() -> None: ...


@jobs.cron("30 2 * * *", id="night")
def night() -> None: ...
