"""Terms and run ids (scheduler_proc/coordination/term.py)."""

from __future__ import annotations

from scheduler_proc.coordination.term import RUN_ID_PREFIX, Term, new_run_id


def test_run_ids_are_unique_16_hex_digits_under_this_process_prefix() -> None:
    ids = [new_run_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 16 and i.startswith(RUN_ID_PREFIX) and int(i, 16) >= 0 for i in ids)


def test_a_term_asks_whether_it_is_still_current_each_time() -> None:
    current = [True]
    term = Term(7, lambda: current[0], lease_token="7:abc:web-1")
    assert term.is_current()
    current[0] = False
    assert not term.is_current() and term.fencing_token == 7
