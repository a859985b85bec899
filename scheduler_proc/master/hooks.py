"""The four gunicorn master hooks; assign them in gunicorn.conf.py.

State lives in this normally imported module because gunicorn re-executes the
config file on HUP, which would reset anything kept there.
"""

from __future__ import annotations

from scheduler_proc.master.launcher import Arbiter, MasterSide

_MASTER = MasterSide()


def on_starting(server: Arbiter) -> None:
    """Check settings and the jobs module; start the scheduler side or refuse to start."""
    _MASTER.on_starting(server)


def when_ready(server: Arbiter) -> None:
    """Forward stop signals to the scheduler side at once; replace a supervisor that dies."""
    _MASTER.when_ready(server)


def on_reload(server: Arbiter) -> None:
    """HUP: reload the jobs module in the scheduler side, keeping the old one if the new fails."""
    _MASTER.on_reload(server)


def on_exit(server: Arbiter) -> None:
    """Wait for running jobs up to the stop grace, then leave nothing of ours running."""
    _MASTER.on_exit(server)


def started_the_scheduler() -> bool:
    """True in this master (and the workers it forked) once its hooks started the scheduler."""
    return _MASTER.settings is not None
