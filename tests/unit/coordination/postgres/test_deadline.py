"""A deadline on each call (scheduler_proc/coordination/postgres/deadline.py): a socket still waited on
past its deadline is shut down, so the read ends at once; one that finished in time is left alone; many
deadlines share one watchdog. A paused server behind it: tests/unit/coordination/postgres/test_lease.py."""

from __future__ import annotations

import socket
import threading
import time

from scheduler_proc.coordination.postgres.deadline import answer_deadline, deadline
from scheduler_proc.settings import Settings


def test_a_read_still_waiting_past_its_deadline_ends_at_once() -> None:
    ours, peer = socket.socketpair()  # the peer never answers, as a paused server
    with ours, peer:
        began = time.monotonic()
        with deadline(ours, 0.2) as cut:
            assert ours.recv(1) == b"", "the read ends: its socket was shut down"
        assert cut.is_set() and 0.2 <= time.monotonic() - began < 1.0


def test_a_call_that_ended_in_time_is_left_alone() -> None:
    ours, peer = socket.socketpair()
    with ours, peer:
        with deadline(ours, 0.2) as cut:
            peer.sendall(b"x")
            assert ours.recv(1) == b"x"
        time.sleep(0.3)  # past the deadline it no longer has
        peer.sendall(b"y")
        assert not cut.is_set() and ours.recv(1) == b"y"


def test_deadlines_of_many_threads_each_come_in_their_time() -> None:
    pairs = [socket.socketpair() for _ in range(5)]
    ended: dict[int, float] = {}
    began = time.monotonic()

    def wait(index: int, seconds: float) -> None:
        with deadline(pairs[index][0], seconds):
            pairs[index][0].recv(1)
        ended[index] = time.monotonic() - began

    threads = [threading.Thread(target=wait, args=(i, 0.5 - i * 0.1)) for i in range(5)]  # later ones due sooner
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(3)
    for ours, peer in pairs:
        ours.close()
        peer.close()
    assert sorted(ended) == list(range(5))
    for index, seconds in ended.items():
        assert 0.5 - index * 0.1 <= seconds < 0.5 - index * 0.1 + 0.3


def test_the_deadline_comes_after_the_servers_statement_timeout_and_inside_the_lease() -> None:
    for ttl in ("1", "10", "60"):
        store = Settings.from_env(
            {"SCHEDULER_POSTGRES_URL": "postgresql://a@db/app", "SCHEDULER_LEASE_TTL": ttl}
        ).postgres
        assert store is not None
        assert store.socket_timeout < answer_deadline(store) < store.lease_ttl
