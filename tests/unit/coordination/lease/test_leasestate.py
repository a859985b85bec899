"""Whether this node may act as leader (scheduler_proc/coordination/lease/leasestate.py), judged on its
own clock: a lease granted or renewed at ``sent`` is trusted until ``sent + ttl - margin``."""

from __future__ import annotations

from scheduler_proc.coordination.lease.leasestate import LeaseState, floor_margin_ms
from scheduler_proc.settings import Settings


def test_a_lease_is_trusted_until_its_ttl_less_the_margin_from_when_it_was_sent() -> None:
    state = LeaseState(ttl=8, margin=2)
    assert not state.valid(0)
    state.granted(42, "42:n:web-1", sent_at=100)
    assert state.valid(105.99) and not state.valid(106)
    state.renewed(sent_at=103)
    assert state.valid(108.99) and not state.valid(109)
    state.renewed(sent_at=101)  # a late reply to an older renewal never shortens it
    assert state.valid(108.99)
    state.lost()
    assert not state.valid(101) and state.fencing_token is None and state.lease_token is None


def test_the_floor_margin_is_twice_the_clock_offset_allowed() -> None:
    settings = Settings.from_env({"SCHEDULER_REDIS_URL": "redis://127.0.0.1:1/0", "SCHEDULER_MAX_CLOCK_OFFSET": "0.75"})
    assert settings.redis is not None and floor_margin_ms(settings.redis) == 1500


def test_a_terms_number_and_secret_are_read_together() -> None:
    """The lease thread replaces both at once: a reader holding one read never pairs one term's
    number with the next term's secret (the review of issue 24 found the two read apart)."""
    state = LeaseState(ttl=8, margin=2)
    state.granted(41, "41:a:web-1", sent_at=0)
    held = state.held
    state.lost()
    state.granted(42, "42:b:web-1", sent_at=1)
    assert held == (41, "41:a:web-1") and state.held == (42, "42:b:web-1")
    assert (state.fencing_token, state.lease_token) == (42, "42:b:web-1")
