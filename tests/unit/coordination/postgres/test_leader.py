"""Who leads now (scheduler_proc/coordination/postgres/leader.py), read from the lease row on a real
PostgreSQL: nobody at first, the node whose lease has not run out by the database's clock, nobody
after a release."""

from __future__ import annotations

from pg_lease_support import node_settings, store
from pg_support import PostgresServer

from scheduler_proc.coordination.postgres.conn import Client
from scheduler_proc.coordination.postgres.leader import current_leader
from scheduler_proc.coordination.postgres.lease import postgres_leadership


def test_the_leader_is_the_node_whose_lease_has_not_run_out(postgres_server: PostgresServer) -> None:
    settings = node_settings(postgres_server, "web-1")
    reader = Client(store(settings))
    assert current_leader(reader) is None, "the migration's row: nobody holds it"
    leadership = postgres_leadership(settings, Client(store(settings)))
    leadership.tick()
    term = leadership.current_term()
    assert term is not None and current_leader(reader) == (term.fencing_token, "web-1")
    leadership.release()
    assert current_leader(reader) is None
    reader.close()
