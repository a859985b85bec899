"""LISTEN/NOTIFY as hints (scheduler_proc/coordination/postgres/hints.py): channel names fit an
identifier, a notice is heard without blocking, and a listener that cannot tell says so."""

from __future__ import annotations

from pg_support import PostgresServer
from store_support import postgres_settings
from support import wait_for

from scheduler_proc.coordination.postgres.hints import Hints, channel


def test_a_channel_name_fits_an_identifier_whatever_the_schema() -> None:
    assert channel("scheduler_shop", "commands") == "scheduler_shop_commands"
    long = channel("s" * 63, "commands")
    assert len(long) == 63 and long.endswith("_commands")


def test_a_notice_is_heard_once_and_a_fresh_or_broken_listener_cannot_tell(postgres_server: PostgresServer) -> None:
    hints = Hints(postgres_settings(postgres_server), "commands", "scheduler-proc/test-hints")
    assert hints.heard(), "just listening: notices sent before were not heard"
    assert not hints.heard()
    postgres_server.psql("SELECT pg_notify(%s, 'x')", (hints.channel,))
    wait_for(hints.heard, 5, "the notice")
    assert not hints.heard(), "heard once"
    postgres_server.kill()
    wait_for(hints.heard, 5, "a broken listener to say it cannot tell")
    assert hints.heard(), "still cannot tell: PostgreSQL is gone"
    hints.close()
