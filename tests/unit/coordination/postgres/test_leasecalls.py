"""One node's lease functions (scheduler_proc/coordination/postgres/leasecalls.py, sql/lease.sql) against
a real PostgreSQL: acquire, learn who holds it and for how long, renew and release only by token, terms
that never repeat (a sequence set back, a dump restored: the floor moves), a server that changed, the
clock measured from the replies."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from pg_lease_support import SCHEMA, floor_row, lease_row, node_settings, store
from pg_support import PostgresServer
from support import FakeClock

from scheduler_proc import clock
from scheduler_proc.coordination.lease.calls import Acquired, HeldByOther
from scheduler_proc.coordination.lease.clockwatch import ClockWatch
from scheduler_proc.coordination.postgres.conn import Client
from scheduler_proc.coordination.postgres.leasecalls import PostgresLeaseCalls, bury, release_lease_of
from scheduler_proc.errors import UnreadableData
from scheduler_proc.runner.metrics import Metrics

TTL_MS = 8000
MARGIN_MS = 2000


def _watched(
    server: PostgresServer, node: str, wall: Callable[[], float] = clock.wall, url: str | None = None
) -> tuple[PostgresLeaseCalls, ClockWatch]:
    """Node ``node``'s calls (as the admin, or with ``url``) and the watch they measure its clock with."""
    settings = store(node_settings(server, node, more={"SCHEDULER_POSTGRES_URL": url} if url else None))
    watch = ClockWatch(settings, "PostgreSQL", Metrics(node), FakeClock(), wall)
    return PostgresLeaseCalls(Client(settings), watch), watch


def _calls(server: PostgresServer, node: str) -> PostgresLeaseCalls:
    return _watched(server, node)[0]


@pytest.fixture
def calls(postgres_server: PostgresServer) -> Iterator[tuple[PostgresLeaseCalls, PostgresLeaseCalls]]:
    yield _calls(postgres_server, "web-1"), _calls(postgres_server, "web-2")


def _acquired(reply: Acquired | HeldByOther) -> Acquired:
    assert isinstance(reply, Acquired), reply
    return reply


def test_one_node_acquires_and_the_other_learns_who_holds_it_for_how_long(
    calls: tuple[PostgresLeaseCalls, PostgresLeaseCalls],
) -> None:
    first, second = calls
    got = _acquired(first.acquire("web-1", TTL_MS, 1, MARGIN_MS))
    assert first.holder(got.lease_token) == (got.fencing_token, "web-1")
    other = second.acquire("web-2", TTL_MS, 1, MARGIN_MS)
    assert isinstance(other, HeldByOther) and other.holder == got.lease_token
    assert TTL_MS - 1000 < other.remaining_ms <= TTL_MS


def test_renew_and_release_compare_the_token(
    calls: tuple[PostgresLeaseCalls, PostgresLeaseCalls], postgres_server: PostgresServer
) -> None:
    first, second = calls
    got = _acquired(first.acquire("web-1", 300, 1, MARGIN_MS))
    assert not second.renew_quiet("1:forged:web-2", TTL_MS) and not second.release("1:forged:web-2")
    assert first.renew_quiet(got.lease_token, TTL_MS), "extended from 300 ms to the TTL"
    time.sleep(0.4)
    assert lease_row(postgres_server)[2], "still held: the renewal counted"
    renewal = first.renew(got.lease_token, TTL_MS, MARGIN_MS)
    assert renewal.renewed and renewal.discontinuity == ""
    assert first.release(got.lease_token) and not lease_row(postgres_server)[2]
    assert not first.release(got.lease_token), "released once"
    assert not first.renew(got.lease_token, TTL_MS, MARGIN_MS).renewed, "a released lease is not renewed"
    assert _acquired(second.acquire("web-2", TTL_MS, 1, MARGIN_MS)).fencing_token == got.fencing_token + 1


def test_a_lease_that_ran_out_is_not_renewed_and_goes_to_the_next(
    calls: tuple[PostgresLeaseCalls, PostgresLeaseCalls],
) -> None:
    first, second = calls
    got = _acquired(first.acquire("web-1", 100, 1, MARGIN_MS))
    time.sleep(0.15)
    assert not first.renew_quiet(got.lease_token, TTL_MS)
    assert _acquired(second.acquire("web-2", TTL_MS, 1, MARGIN_MS)).fencing_token > got.fencing_token


def test_the_first_start_moves_the_floor_and_starts_terms_at_the_databases_time(
    calls: tuple[PostgresLeaseCalls, PostgresLeaseCalls], postgres_server: PostgresServer
) -> None:
    """As with Redis: a schema without history cannot be told from one that lost its data."""
    first, _ = calls
    before_ms = int(time.time() * 1000) - 60_000
    got = _acquired(first.acquire("web-1", TTL_MS, 1, MARGIN_MS))
    assert got.discontinuity.startswith("no lease history in PostgreSQL")
    assert got.fencing_token > before_ms
    at_us, reason = floor_row(postgres_server)
    assert at_us == (got.store_ms + MARGIN_MS) * 1000 and reason == got.discontinuity


def test_a_sequence_set_back_gives_a_node_with_memory_a_term_above_all_it_saw(
    calls: tuple[PostgresLeaseCalls, PostgresLeaseCalls], postgres_server: PostgresServer
) -> None:
    first, second = calls
    seen = _acquired(first.acquire("web-1", 100, 1, MARGIN_MS)).fencing_token
    floor_before = floor_row(postgres_server)[0]
    postgres_server.psql(f"SELECT setval('{SCHEMA}.terms', 5)")  # what an older backup held
    time.sleep(0.15)
    got = _acquired(second.acquire("web-2", TTL_MS, seen + 1, MARGIN_MS))
    assert got.fencing_token > seen and "older than terms this host saw" in got.discontinuity
    at_us, reason = floor_row(postgres_server)
    assert at_us > floor_before and at_us == (got.store_ms + MARGIN_MS) * 1000 and reason == got.discontinuity
    assert not first.release(f"{seen}:forged:web-1") and lease_row(postgres_server)[0] == got.fencing_token
    assert second.release(got.lease_token)
    assert _acquired(first.acquire("web-1", TTL_MS, 1, MARGIN_MS)).fencing_token == got.fencing_token + 1


def test_a_restored_dump_moves_the_floor_even_for_a_node_without_memory(
    calls: tuple[PostgresLeaseCalls, PostgresLeaseCalls], postgres_server: PostgresServer
) -> None:
    """pg_restore creates the tables anew (new oids): the identity changes, whoever asks next."""
    first, second = calls
    assert first.release(_acquired(first.acquire("web-1", TTL_MS, 1, MARGIN_MS)).lease_token)
    dump = postgres_server.dump()
    newer = _acquired(second.acquire("web-2", TTL_MS, 1, MARGIN_MS))
    postgres_server.restore(dump)  # the sequence, the lease and the floor go back to before `newer`
    got = _acquired(_calls(postgres_server, "web-3").acquire("web-3", TTL_MS, 1, MARGIN_MS))  # no memory of terms
    assert "created anew (restored from a dump?)" in got.discontinuity
    assert got.fencing_token > newer.fencing_token, "above every term handed out before the restore"
    assert floor_row(postgres_server)[0] == (got.store_ms + MARGIN_MS) * 1000


def test_a_server_of_another_identity_is_a_discontinuity_found_by_a_full_renewal(
    calls: tuple[PostgresLeaseCalls, PostgresLeaseCalls], postgres_server: PostgresServer
) -> None:
    """A failover to a promoted standby changes the timeline; another cluster, the system identifier."""
    first, _ = calls
    got = _acquired(first.acquire("web-1", TTL_MS, 1, MARGIN_MS))
    assert first.renew(got.lease_token, TTL_MS, MARGIN_MS).discontinuity == ""
    postgres_server.psql(
        f"UPDATE {SCHEMA}.server SET identity = '1:00000001:' || split_part(identity, ':', 3)"
    )  # as if written under another server
    renewal = first.renew(got.lease_token, TTL_MS, MARGIN_MS)
    assert renewal.renewed and renewal.discontinuity.startswith("PostgreSQL's server changed")
    assert floor_row(postgres_server) == ((renewal.store_ms + MARGIN_MS) * 1000, renewal.discontinuity)
    assert first.renew(got.lease_token, TTL_MS, MARGIN_MS).discontinuity == "", "noticed once"


def test_a_role_that_may_not_read_the_servers_identity_is_told_apart(postgres_server: PostgresServer) -> None:
    """'?': a failover cannot be noticed (the warning names the GRANT); a restore from a dump still can."""
    url = postgres_server.app_role("app", "secret-app-1", schema=SCHEMA)
    postgres_server.psql("REVOKE EXECUTE ON FUNCTION pg_control_system() FROM PUBLIC")
    calls, _ = _watched(postgres_server, "web-1", url=url)
    got = _acquired(calls.acquire("web-1", TTL_MS, 1, MARGIN_MS))
    assert got.discontinuity.startswith("no lease history")
    assert calls.renew(got.lease_token, TTL_MS, MARGIN_MS).discontinuity == "?"


def test_a_token_written_by_hand_is_unreadable_and_made_to_run_out_within_the_ttl(
    calls: tuple[PostgresLeaseCalls, PostgresLeaseCalls], postgres_server: PostgresServer
) -> None:
    first, _ = calls
    postgres_server.psql(
        f"UPDATE {SCHEMA}.lease SET token = 'garbage', expires_at = clock_timestamp() + interval '1 day'"
    )
    other = first.acquire("web-1", 200, 1, MARGIN_MS)
    assert isinstance(other, HeldByOther) and other.holder == "garbage" and other.remaining_ms <= 200
    with pytest.raises(UnreadableData, match=rf"lease row {SCHEMA}\.lease holds the token 'garbage'"):
        first.holder(other.holder)
    time.sleep(0.25)
    assert isinstance(first.acquire("web-1", TTL_MS, 1, MARGIN_MS), Acquired)


def test_the_clock_is_measured_from_every_reply(postgres_server: PostgresServer) -> None:
    ahead, watch = _watched(postgres_server, "web-1", wall=lambda: clock.wall() + 3.0)
    ahead.measure_clock()
    assert watch.check.offset is not None and 2.9 < watch.check.offset < 3.1 and watch.check.off
    fine, fine_watch = _watched(postgres_server, "web-2")
    got = _acquired(fine.acquire("web-2", TTL_MS, 1, MARGIN_MS))
    assert fine_watch.check.offset is not None and abs(fine_watch.check.offset) < 0.1
    assert abs(got.store_ms / 1000 - time.time()) < 1


def test_bury_marks_the_run_prefix_dead_and_releases_only_the_token_given(
    calls: tuple[PostgresLeaseCalls, PostgresLeaseCalls], postgres_server: PostgresServer
) -> None:
    first, _ = calls
    got = _acquired(first.acquire("web-1", TTL_MS, 1, MARGIN_MS))
    client = Client(store(node_settings(postgres_server, "web-2")))
    assert not bury(client, "1:forged:web-1", "ab12cd34") and lease_row(postgres_server)[2]
    assert not release_lease_of(client, "1:forged:web-1")
    assert bury(client, got.lease_token, "ab12cd34") and not lease_row(postgres_server)[2]
    assert not bury(client, None, "ef56")
    rows = postgres_server.psql(
        f"SELECT prefix, until > clock_timestamp() + interval '500 ms' FROM {SCHEMA}.dead ORDER BY prefix"
    )
    assert rows == [("ab12cd34", True), ("ef56", True)], "kept as long as a marker could live (the lease TTL)"
