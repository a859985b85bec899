"""The last known state of the store (scheduler_proc/coordination/lease/health.py), here Redis: a problem
while it refuses commands, one log line per change, and what the lease scripts found about its data."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from scheduler_proc import problems
from scheduler_proc.coordination.lease.health import StoreHealth
from scheduler_proc.coordination.redis.leasecalls import REDIS
from scheduler_proc.settings import Settings


@pytest.fixture
def health(monkeypatch: pytest.MonkeyPatch) -> Iterator[StoreHealth]:
    monkeypatch.setattr(problems, "_current", {})
    settings = Settings.from_env({"SCHEDULER_REDIS_URL": "redis://127.0.0.1:1/0"})
    assert settings.redis is not None
    yield StoreHealth(settings.redis, REDIS)


def test_each_change_is_logged_once_and_refusals_are_a_problem(
    health: StoreHealth, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        health.became("ok", "Redis answers")  # the first answer: nothing to say
        health.became("unreachable", "Redis does not answer")
        health.became("unreachable", "Redis does not answer")
        health.became("error", "Redis refuses EVALSHA: NOPERM")
        assert [p["summary"] for p in problems.current()] == ["Redis refuses the scheduler's commands"]
        health.became("ok", "Redis answers")
    assert problems.current() == [] and health.state == "ok"
    lines = [r.getMessage() for r in caplog.records if r.name == "scheduler.lease"]
    assert lines == ["Redis does not answer", "Redis answers again"]


def test_what_the_scripts_found_about_the_data(health: StoreHealth, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        health.continuity("", 2000)
        health.continuity("?", 2000)
        health.continuity("?", 2000)
        health.continuity("Redis restarted without its data", 2000, leading=True)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and "ACL SETUSER <user> +info" in lines[0]
    assert lines[1].startswith("Redis restarted without its data: claims made before may be gone")
    assert "up to 2s from now" in lines[1] and "this node leads on" in lines[1]
