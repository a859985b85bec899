"""Which app a scheduler belongs to, so two apps that share a namespace find out instead of starving.

The namespace names the lock file, the ledger and the Redis keys. Two apps that end up with
the same one (the same ``SCHEDULER_NAMESPACE``, or the same default) share them: the second
waits as standby behind the first for ever and its status would show the first one's jobs.
Each holder therefore writes its identity next to what it holds, and whoever finds a
different one says so at ERROR level, in status and in ``/scheduler/readyz``.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

#: The template's own jobs module: its namespace stays ``scheduler``, as before 0.2, so an
#: upgraded fork keeps its lock, ledger and Redis keys.
TEMPLATE_JOBS = "app.jobs:jobs"
TEMPLATE_NAMESPACE = "scheduler"


def default_namespace(jobs_ref: str) -> str:
    """The namespace of an app that sets none: the top-level package of its jobs module.

    ``shop.jobs:jobs`` gives ``shop``; the template's ``app.jobs:jobs`` keeps ``scheduler``.
    """
    if jobs_ref == TEMPLATE_JOBS:
        return TEMPLATE_NAMESPACE
    package = jobs_ref.partition(":")[0].split(".")[0]
    # A namespace is 1-64 of [A-Za-z0-9_.-]; a package name may hold other letters and be longer.
    # Where the name had to change, a digest of it keeps two such packages apart.
    plain = re.sub(r"[^A-Za-z0-9_.-]", "_", package)
    if plain == package and len(plain) <= 64:
        return plain
    return f"{plain[:55]}-{hashlib.sha256(package.encode()).hexdigest()[:8]}"


@dataclass(frozen=True)
class AppIdentity:
    """An app as the host lock's record names it: its jobs module and the directory it runs in."""

    jobs: str
    directory: str

    @classmethod
    def here(cls, jobs_ref: str) -> AppIdentity:
        """This process's app (gunicorn's workers, the supervisor and the runner share the master's cwd)."""
        return cls(jobs_ref, os.getcwd())

    def describe(self) -> str:
        return f"SCHEDULER_JOBS={self.jobs!r} in {self.directory}"

    def conflict(self, other_jobs: str | None, other_directory: str | None, namespace: str) -> str | None:
        """Why the holder ``other_*`` is another app sharing ``namespace`` with us, or None.

        A record without an identity (a scheduler older than 0.2) is given the benefit of the doubt;
        ``other_directory`` None compares the jobs module only (hosts of a cluster, the CLI).
        """
        if other_jobs is None or (other_jobs == self.jobs and other_directory in (None, self.directory)):
            return None
        theirs = AppIdentity(other_jobs, other_directory or "?").describe()
        return (
            f"namespace {namespace!r} is held by another app ({theirs}); this app ({self.describe()}) "
            "never runs its jobs while that one holds it: give each app its own SCHEDULER_NAMESPACE"
        )


def parent_of(pid: int) -> int | None:
    """The parent of process ``pid`` (Linux ``/proc``), or None when it is gone or unreadable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:  # the command name, in parentheses, may hold spaces: the fields after it are plain
        return int(stat.rsplit(")", 1)[1].split()[1])
    except (IndexError, ValueError):
        return None
