"""The PostgreSQL leader lease (scheduler_proc/coordination/postgres/lease.py): the shared leadership on
PostgreSQL's calls, against a real server with a 1 s TTL. One node leads and a standby takes over at
once on release; a leader steps down by its own clock while the server is paused (SIGSTOP) longer than
the TTL; a leader whose connection is killed (pg_terminate_backend) connects again and leads on; and
at no moment do two nodes lead."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from pg_lease_support import lease_row, node_settings, store
from pg_support import PostgresServer
from support import wait_for

from scheduler_proc.coordination.lease.leadership import ClusterLeadership
from scheduler_proc.coordination.postgres.conn import Client
from scheduler_proc.coordination.postgres.lease import postgres_leadership


def _node(server: PostgresServer, node: str) -> ClusterLeadership:
    settings = node_settings(server, node)
    return postgres_leadership(settings, Client(store(settings), f"scheduler-proc/{node}/lease"))


@contextmanager
def _one_leader_at_most(nodes: list[ClusterLeadership]) -> Iterator[list[float]]:
    """Watch the nodes every few ms while the block runs; fail if two ever lead at once. Yields
    the times (monotonic) at which the set of leaders changed."""
    changes: list[float] = []
    both: list[float] = []
    done = threading.Event()

    def watch() -> None:
        before: tuple[bool, ...] = ()
        while not done.wait(0.003):
            leading = tuple(node.leading for node in nodes)
            if sum(leading) > 1:
                both.append(time.monotonic())
            if leading != before:
                changes.append(time.monotonic())
                before = leading

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        yield changes
    finally:
        done.set()
        watcher.join()
    assert not both, f"two nodes led at once ({len(both)} samples)"


def test_one_node_leads_and_a_standby_takes_over_at_once_on_release(postgres_server: PostgresServer) -> None:
    a, b = _node(postgres_server, "a"), _node(postgres_server, "b")
    a.tick()
    b.start()
    with _one_leader_at_most([a, b]):
        wait_for(lambda: b.leader_node == "a", 2, "b sees a lead")
        assert a.leading and not b.leading
        term = a.current_term()
        assert term is not None and term.fencing_token == lease_row(postgres_server)[0]
        time.sleep(0.3)  # b sleeps, listening
        released = time.monotonic()
        a.release()
        wait_for(lambda: b.leading, 2, "b leads")
        assert time.monotonic() - released < 0.5, "woken by the handover notice, not by the lease running out"
    assert b.status()["leader_node"] == "b" and b.status()["store_state"] == "ok"
    b.release()


def test_a_leader_steps_down_while_the_server_is_paused_longer_than_the_ttl(postgres_server: PostgresServer) -> None:
    """A paused server still acknowledges on TCP: only the client's own deadline ends a call to it
    (conn.deadline), so a clean stop (release) does not wait for the server either."""
    a, b = _node(postgres_server, "a"), _node(postgres_server, "b")
    a.start()
    wait_for(lambda: a.leading, 2, "a leads")
    b.start()
    wait_for(lambda: b.leader_node == "a", 2, "b sees a lead")
    with _one_leader_at_most([a, b]):
        postgres_server.signal(signal.SIGSTOP)
        paused = time.monotonic()
        try:
            wait_for(lambda: not a.leading, 2, "a steps down")
            assert time.monotonic() - paused < 1.0, "within the TTL, by its own clock"
            time.sleep(0.5)  # longer than the TTL in all
            assert not a.leading and not b.leading and a.status()["store_state"] == "unreachable"
        finally:
            postgres_server.signal(signal.SIGCONT)
        wait_for(lambda: a.leading or b.leading, 5, "a leader again")
    a.release()
    b.release()


def test_a_clean_stop_does_not_wait_for_a_paused_server(postgres_server: PostgresServer) -> None:
    a = _node(postgres_server, "a")
    a.start()
    wait_for(lambda: a.leading, 2, "a leads")
    postgres_server.signal(signal.SIGSTOP)
    try:
        began = time.monotonic()
        a.release()
        assert time.monotonic() - began < 4, "the keeper's call and the release each end at their deadline"
    finally:
        postgres_server.signal(signal.SIGCONT)
    assert not a.leading


def test_a_leader_whose_connection_is_killed_connects_again_and_leads_on(postgres_server: PostgresServer) -> None:
    a, b = _node(postgres_server, "a"), _node(postgres_server, "b")
    a.start()
    wait_for(lambda: a.leading, 2, "a leads")
    b.start()
    with _one_leader_at_most([a, b]):
        assert postgres_server.terminate_backends("scheduler-proc/a/%") >= 1
        time.sleep(1.5)  # longer than the TTL: the renewals after the kill kept it
        assert a.leading and not b.leading
    assert a.status()["store_state"] == "ok"
    a.release()
    b.release()
