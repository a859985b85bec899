"""Exactly-once APScheduler jobs for gunicorn + FastAPI: one scheduler process per host or cluster."""

from scheduler_proc.errors import JobDefinitionError, SchedulerError
from scheduler_proc.jobs import Jobs, RunContext

__all__ = ["JobDefinitionError", "Jobs", "RunContext", "SchedulerError"]
