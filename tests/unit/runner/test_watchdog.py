"""The dispatch loop's watchdog (scheduler_proc/runner/watchdog.py) on a fake clock: a hang is the
timeout without a beat while watching; the lease keeper's backstop allows two nudges more. The
runner acting on a hang: tests/integration/test_liveness.py."""

from __future__ import annotations

from support import FakeClock

from scheduler_proc.runner.watchdog import NUDGE_EVERY, Watchdog


def test_silence_past_the_timeout_is_a_hang_only_while_watching() -> None:
    clock = FakeClock()
    watchdog = Watchdog(timeout=10, clock=clock)
    clock.now += 60
    assert watchdog.stuck_for() == 0 and watchdog.keep_lease, "not watching: no engine dispatches"
    watchdog.watch(True)  # resets the beat
    clock.now += 10
    assert watchdog.stuck_for() == 0, "at the timeout: not yet"
    clock.now += 0.5
    assert watchdog.stuck_for() == 10.5
    watchdog.beat()
    assert watchdog.stuck_for() == 0


def test_the_lease_is_kept_until_two_nudges_past_the_timeout() -> None:
    clock = FakeClock()
    watchdog = Watchdog(timeout=10, clock=clock)
    watchdog.watch(True)
    clock.now += 10 + 2 * NUDGE_EVERY
    assert watchdog.keep_lease
    clock.now += 0.01
    assert not watchdog.keep_lease
    watchdog.watch(False)
    assert watchdog.keep_lease
