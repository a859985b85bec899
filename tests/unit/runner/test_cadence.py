"""The chores' cadence (scheduler_proc/runner/cadence.py), on a fake clock."""

from __future__ import annotations

from support import FakeClock


def test_cadence_spaces_costly_chores_and_yields_to_bursts() -> None:
    from scheduler_proc.runner.cadence import Cadence

    clock = FakeClock()
    cadence = Cadence(every=1.0, share=0.05, max_delay=5.0, clock=clock)
    assert cadence.due(busy=True), "the first run is due at once"
    cadence.start()
    clock.now += 0.01
    cadence.done()
    assert not cadence.due()
    clock.now += 0.99
    assert cadence.due() and not cadence.due(busy=True), "a due chore waits while fires start"
    clock.now += 5.0
    assert cadence.due(busy=True), "but not longer than max_delay"
    cadence.start()
    clock.now += 0.5  # a chore costing half a second may take at most 5 % of the time
    cadence.done()
    assert cadence.cost == 0.5
    clock.now += 9.9
    assert not cadence.due()
    clock.now += 0.1
    assert cadence.due()
