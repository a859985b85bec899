"""The scheduler side's wall clock (scheduler_proc/clock.py): the one place schedule decisions read
the time of day, shifted by SCHEDULER_TEST_CLOCK_OFFSET for tests (read once, at import: each case
runs in a fresh interpreter)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC

import pytest

from scheduler_proc import clock

_PROBE = (
    "import json, time; from datetime import datetime; from scheduler_proc import clock; "
    "print(json.dumps([clock.OFFSET, clock.wall() - time.time(), "
    "datetime.now(clock.scheduler_timezone()).timestamp() - time.time(), str(clock.scheduler_timezone())]))"
)


def _probe(offset: str) -> list[object]:
    env = {**os.environ, "SCHEDULER_TEST_CLOCK_OFFSET": offset}
    result = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    answer: list[object] = json.loads(result.stdout)
    return answer


def test_without_an_offset_the_clock_is_the_hosts_and_apscheduler_gets_plain_utc() -> None:
    assert clock.OFFSET == 0.0 and clock.scheduler_timezone() is UTC
    before = time.time()
    assert before <= clock.wall() <= time.time()
    assert clock.now().tzinfo is UTC and abs(clock.now().timestamp() - time.time()) < 1


def test_the_lease_clock_never_goes_back() -> None:
    readings = [clock.elapsed() for _ in range(1000)]
    assert readings == sorted(readings)


@pytest.mark.processes
@pytest.mark.parametrize("offset", ["3600", "-90.5"])
def test_an_offset_shifts_the_wall_clock_and_apschedulers_now_alike(offset: str) -> None:
    seen, wall_shift, scheduler_shift, _ = _probe(offset)
    assert seen == float(offset)
    assert abs(float(wall_shift) - float(offset)) < 1 and abs(float(scheduler_shift) - float(offset)) < 1  # type: ignore[arg-type]


@pytest.mark.processes
def test_a_bad_offset_is_ignored_here_and_reported_by_the_settings() -> None:
    assert _probe("soon")[0] == 0.0
