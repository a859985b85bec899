"""What the PostgreSQL command bus (scheduler_proc/coordination/postgres/bus.py, sql/bus.sql) does
beyond the CommandBus interface's tests (tests/integration/test_cluster_bus.py, run on both
stores): a row that is no command is skipped and the cursor moves past it, a leader whose
listening connection was cut reads at once and listens again, and acks clear what expired."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pg_support import PostgresServer
from store_support import PostgresKit
from support import wait_for

from scheduler_proc.coordination.postgres.bus import PostgresBus
from scheduler_proc.coordination.records import Command


@pytest.fixture
def kit(postgres_server: PostgresServer) -> Iterator[PostgresKit]:
    made = PostgresKit(postgres_server)
    yield made
    made.close()


def test_a_row_that_is_no_command_is_skipped_and_the_cursor_moves_past_it(kit: PostgresKit) -> None:
    leader = kit.bus()
    kit.execute("""INSERT INTO {schema}.commands (fields) VALUES ('{{"id": 1}}'), ('[1, 2]')""")
    assert leader.receive() == []
    [(cursor,)] = kit.execute("SELECT last_id FROM {schema}.bus_cursor")
    [(newest,)] = kit.execute("SELECT max(id) FROM {schema}.commands")
    assert cursor == newest
    command = Command.new("run", "after")
    kit.bus().submit(command)
    assert leader.receive() == [command]


def test_a_leader_whose_listening_connection_was_cut_reads_at_once_and_listens_again(kit: PostgresKit) -> None:
    leader, operator = kit.bus(), kit.bus()
    assert isinstance(leader, PostgresBus)
    assert leader.due() and leader.receive() == [] and not leader.due()
    assert kit.server.terminate_backends("scheduler-proc/bus") == 1
    wait_for(leader.due, 5, "the leader to notice it can no longer hear notices")
    assert leader.receive() == []
    assert leader.due(), "listening again: notices sent meanwhile were not heard"
    assert leader.receive() == [] and not leader.due()
    operator.submit(Command.new("pause", "j"))
    wait_for(leader.due, 5, "the notice")


def test_an_ack_clears_expired_commands_and_answers(kit: PostgresKit) -> None:
    leader = kit.bus()
    kit.submit_aged(Command.new("run", "old"), 60)
    kit.execute("INSERT INTO {schema}.acks VALUES ('gone', '{{}}', clock_timestamp() - interval '1 second')")
    command = Command.new("run", "new")
    kit.bus().submit(command)
    [received] = leader.receive()
    leader.ack(received, {"ok": True})
    assert kit.execute("SELECT fields->>'job_id' FROM {schema}.commands") == [("new",)]
    assert kit.execute("SELECT command_id FROM {schema}.acks") == [(command.id,)]
