"""LISTEN/NOTIFY hints (scheduler_proc/coordination/postgres/notices.py) on a real PostgreSQL: a standby
hears a released lease at once; a killed connection only makes one wait come back empty, the next one
listens again; channel names fit PostgreSQL's identifiers."""

from __future__ import annotations

import threading
import time

from pg_lease_support import node_settings, store
from pg_support import PostgresServer
from support import wait_for

from scheduler_proc.coordination.postgres.conn import Client
from scheduler_proc.coordination.postgres.leasecalls import call_function, release_lease_of
from scheduler_proc.coordination.postgres.notices import CommandNotices, HandoverNotices, channel_name


def test_a_channel_name_is_the_schemas_cut_to_fit_an_identifier() -> None:
    assert channel_name("scheduler_shop", "handover") == "scheduler_shop_handover"
    long = channel_name("s" * 63, "commands")
    assert len(long) == 63 and long.endswith("_commands")


def test_the_sql_side_names_the_channel_alike(postgres_server: PostgresServer) -> None:
    settings = store(node_settings(postgres_server, "web-1"))
    client = Client(settings)
    assert call_function(client, "channel", ("handover",)) == (channel_name(settings.schema, "handover"),)
    client.close()


def _lead(client: Client) -> str:
    """Take the lease as web-1 and return its token."""
    row = call_function(client, "acquire", ("n", "web-1", 8000, 1, 2000))
    assert row[0] is True
    return str(row[2])


def test_a_release_wakes_a_waiting_standby_at_once(postgres_server: PostgresServer) -> None:
    settings = store(node_settings(postgres_server, "web-2"))
    client = Client(settings)
    notices = HandoverNotices(settings, "scheduler-proc/web-2/handover")
    assert not notices.wait(0.2), "listening now; nothing given up yet"
    token = _lead(client)
    heard: list[float] = []
    waiter = threading.Thread(target=lambda: heard.append(time.monotonic()) if notices.wait(5) else None)
    waiter.start()
    time.sleep(0.2)  # the waiter blocks in notifies()
    released = time.monotonic()
    assert release_lease_of(client, token)
    waiter.join(6)
    assert heard and heard[0] - released < 0.5, "heard within moments, not after the 5 s wait"
    notices.close()
    client.close()


def test_a_killed_listener_makes_one_wait_empty_and_the_next_listens_again(postgres_server: PostgresServer) -> None:
    settings = store(node_settings(postgres_server, "web-2"))
    client = Client(settings)
    notices = HandoverNotices(settings, "scheduler-proc/web-2/handover")
    assert not notices.wait(0.1)
    assert postgres_server.terminate_backends("scheduler-proc/web-2/handover") == 1
    began = time.monotonic()
    assert not notices.wait(2)
    assert time.monotonic() - began < 1, "a broken listener naps briefly; the caller polls meanwhile"
    assert not notices.wait(0.1)  # listening again
    assert release_lease_of(client, _lead(client))
    assert notices.wait(2)
    notices.close()
    client.close()


def test_the_leader_hears_a_command_notice_without_blocking_and_reads_when_it_cannot_tell(
    postgres_server: PostgresServer,
) -> None:
    settings = store(node_settings(postgres_server, "web-1"))
    notices = CommandNotices(settings, "scheduler-proc/web-1/bus")
    assert notices.heard(), "just listening: notices sent before were not heard"
    assert not notices.heard()
    for _ in range(3):
        postgres_server.psql("SELECT pg_notify(%s, 'x')", (channel_name(settings.schema, "commands"),))
    wait_for(notices.heard, 5, "the notices")
    assert not notices.heard(), "every notice waiting was taken at once"
    postgres_server.kill()
    wait_for(notices.heard, 5, "a broken listener to say it cannot tell")
    assert notices.heard(), "still cannot tell: PostgreSQL is gone"
    notices.close()
