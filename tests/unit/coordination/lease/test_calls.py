"""What the lease needs of a store (scheduler_proc/coordination/lease/calls.py): the lease token's
shape every store writes and reads, 'term:nonce:node'. The calls themselves are tested per store:
tests/unit/coordination/redis/test_leasecalls.py, tests/unit/coordination/postgres/test_leasecalls.py."""

from __future__ import annotations

import pytest

from scheduler_proc.coordination.lease.calls import token_parts
from scheduler_proc.coordination.term import MAX_TERM


def test_a_token_names_its_term_and_node_where_the_node_may_hold_colons() -> None:
    assert token_parts("42:nonce:web-1") == (42, "web-1")
    assert token_parts("7:n:host:8000") == (7, "host:8000")
    assert token_parts(f"{MAX_TERM}:n:a") == (MAX_TERM, "a")


@pytest.mark.parametrize(
    "raw", ["garbage", "", "x:n:a", "1::a", "1:n:", f"{MAX_TERM + 1}:n:a", "1" * 17 + ":n:a", 42, None]
)
def test_anything_else_is_no_token(raw: object) -> None:
    assert token_parts(raw) is None
