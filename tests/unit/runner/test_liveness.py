"""Liveness: beats on a real pipe once a second (fake clock), nudges the engine, gives up on a hang."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from support import FakeClock

from scheduler_proc.runner.liveness import Liveness
from scheduler_proc.runner.watchdog import Watchdog


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read, write = os.pipe()
    os.set_blocking(read, False)
    yield read, write
    os.close(read)
    os.close(write)


def _reports(read: int) -> bytes:
    try:
        return os.read(read, 65536)
    except BlockingIOError:
        return b""


def test_a_beat_once_a_second_and_none_in_between(pipe: tuple[int, int]) -> None:
    clock = FakeClock()
    hangs: list[float] = []
    liveness = Liveness(Watchdog(5, clock), pipe[1], hangs.append, clock)
    liveness.check(None)
    assert b"beat" in _reports(pipe[0])
    clock.now += 0.5
    liveness.check(None)
    liveness.progress()
    assert _reports(pipe[0]) == b""
    clock.now += 0.6
    liveness.progress()  # a claim retrying on the runner's own loop: the supervisor hears from us
    assert b"beat" in _reports(pipe[0]) and hangs == []


def test_a_hung_dispatch_loop_calls_on_hang_and_sends_no_beat(pipe: tuple[int, int]) -> None:
    clock = FakeClock()
    hangs: list[float] = []
    watchdog = Watchdog(5, clock)
    liveness = Liveness(watchdog, pipe[1], hangs.append, clock)
    watchdog.watch(True)
    clock.now += 6
    liveness.check(None)
    assert hangs == [6] and _reports(pipe[0]) == b""
