"""The restart backoff (scheduler_proc/backoff.py)."""

from __future__ import annotations

from scheduler_proc.backoff import STABLE_AFTER, RestartBackoff


def test_restart_backoff_doubles_while_restarts_fail_and_resets_after_a_healthy_run() -> None:
    backoff = RestartBackoff(first=1.0, maximum=5.0)
    assert backoff.after_exit(lived=2.0) == 1.0
    assert backoff.after_exit(lived=2.0) == 2.0
    assert backoff.after_failed_start() == 4.0
    assert backoff.after_exit(lived=2.0) == 5.0  # capped
    assert backoff.after_exit(lived=STABLE_AFTER) == 1.0
