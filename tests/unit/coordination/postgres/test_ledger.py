"""What the PostgreSQL ledger (scheduler_proc/coordination/postgres/ledger.py, sql/ledger.sql) does
beyond the Ledger interface's tests (tests/integration/test_cluster_ledger.py, run on both
stores): claims expire after their retention, a claim runs only once synchronous standbys have
it, a run's end and a renewal of its marker never cross, a server that does not answer costs no
fire and breaks no caller, and rows that are not the kit's are left out."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from pg_support import PostgresServer
from store_support import PostgresKit
from support import wait_for

from scheduler_proc.coordination.interfaces import Ledger
from scheduler_proc.coordination.records import ClaimRequest, ClaimResult, LiveRun, Run
from scheduler_proc.coordination.term import Term
from scheduler_proc.errors import SchedulerError


@pytest.fixture
def kit(postgres_server: PostgresServer) -> Iterator[PostgresKit]:
    made = PostgresKit(postgres_server)
    yield made
    made.close()


def _ended(job_id: str, run_id: str, at: datetime) -> Run:
    return Run(job_id, run_id, at, "a", None, "schedule", at.timestamp(), at.timestamp() + 1, "success", None)


def test_a_claim_expires_after_its_retention_and_is_cleared_away(kit: PostgresKit) -> None:
    term = kit.lead("a")
    ledger = kit.ledger(retention=0.05)
    at = datetime.now(UTC)
    assert ledger.claim("j", at, term, "a", "r1") is ClaimResult.CLAIMED
    wait_for(lambda: ledger.claim("j", at, term, "a", "r2") is ClaimResult.CLAIMED, 5, "the claim to expire")
    assert kit.execute("SELECT run_id FROM {schema}.fires") == [("r2",)], "the expired row was taken over"
    later = iter(range(1, 1000))
    wait_for(
        lambda: (
            ledger.claim("other", at + timedelta(milliseconds=next(later)), term, "a", "r3") is ClaimResult.CLAIMED
            and kit.execute("SELECT count(*) FROM {schema}.fires WHERE job_id = 'j'") == [(0,)]
        ),
        5,
        "a claim of another job to clear the expired one away",
    )


def _standbys(server: PostgresServer, names: str) -> None:
    """Set synchronous_standby_names (none exists: every commit that writes waits, until reset)."""
    server.psql(f"ALTER SYSTEM SET synchronous_standby_names = '{names}'")
    server.psql("SELECT pg_reload_conf()")


def _claim_while_replication_is_cancelled(server: PostgresServer, ledger: Ledger, term: Term, at: datetime) -> object:
    """Claim in a thread; cancel its wait for a synchronous standby once it waits; the result."""
    result: list[ClaimResult] = []
    claim = threading.Thread(target=lambda: result.append(ledger.claim("j", at, term, "a", "r1")))
    claim.start()
    wait_for(
        lambda: server.psql("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE wait_event = 'SyncRep'"),
        5,
        "the claim to wait for a synchronous standby",
        interval=0.01,
    )
    claim.join(5)
    return result[0] if result else "no answer"


def test_a_claim_runs_only_once_synchronous_standbys_have_it(
    postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A cancelled wait for a synchronous standby leaves the commit on the primary only (PostgreSQL
    says so in a warning): not run, and a retry that finds its claim waits for the standby too."""
    kit = PostgresKit(postgres_server, ttl=10)  # a client deadline of 2 s: the cancel comes first
    term = kit.lead("a")
    ledger = kit.ledger()
    at = datetime.now(UTC)
    _standbys(postgres_server, "standby1")
    with caplog.at_level(logging.WARNING, "scheduler.ledger"):
        assert _claim_while_replication_is_cancelled(postgres_server, ledger, term, at) is ClaimResult.UNREPLICATED
        assert _claim_while_replication_is_cancelled(postgres_server, ledger, term, at) is ClaimResult.UNREPLICATED
    assert "wait for a synchronous standby was cancelled" in caplog.text
    _standbys(postgres_server, "")
    assert ledger.claim("j", at, term, "a", "r1") is ClaimResult.CLAIMED, "replicated now: the retry runs it"
    kit.close()


def test_a_renewal_waiting_on_a_runs_end_does_not_bring_its_marker_back(kit: PostgresKit) -> None:
    """finish and keep_running take the runs' locks first: a renewal that read its list of runs
    just before the run ended waits for the end to commit, then sees the outcome."""
    term = kit.lead("a")
    ledger = kit.ledger()
    at = datetime.now(UTC)
    [claimed] = ledger.claim_many([ClaimRequest("job", at, "p1-run", max_instances=1)], term, "a")
    assert claimed is ClaimResult.CLAIMED
    with kit.server.admin() as admin, admin.transaction():
        # finish's effect, not yet committed: the outcome written and the run's lock held.
        admin.execute("SET search_path TO kit")
        admin.execute("SELECT lock_runs(ARRAY['p1-run'])")
        admin.execute("UPDATE fires SET outcome = 'success' WHERE run_id = 'p1-run'")
        admin.execute("DELETE FROM running WHERE run_id = 'p1-run'")
        renewal = threading.Thread(target=ledger.keep_running, args=([LiveRun("job", at, "p1-run")],))
        renewal.start()
        wait_for(
            lambda: (
                kit.server.psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted") == [(1,)]
            ),
            5,
            "the renewal to wait for the run's lock",
        )
    renewal.join(5)
    assert not renewal.is_alive()
    assert not kit.has_marker("job", "p1-run"), "the renewal wrote the ended run's marker again"


def test_a_server_that_does_not_answer_costs_no_fire_and_breaks_no_caller(
    kit: PostgresKit, caplog: pytest.LogCaptureFixture
) -> None:
    term = kit.lead("a")
    ledger = kit.ledger()
    at = datetime.now(UTC)
    assert ledger.claim("j", at, term, "a", "r1") is ClaimResult.CLAIMED
    kit.server.kill()
    requests = [ClaimRequest(f"j{i}", at, f"r{i}", manual=i % 2 == 0) for i in range(4)]  # four chunks
    assert ledger.claim_many(requests, term, "a") == [ClaimResult.UNAVAILABLE] * 4
    with caplog.at_level(logging.WARNING, "scheduler.ledger"):
        ledger.finish(_ended("j", "r1", at))
    assert "outcome of 1 run(s) not recorded" in caplog.text
    with pytest.raises(SchedulerError):  # the marker keeper logs it and tries again
        ledger.keep_running([LiveRun("j", at, "r1")])
    assert ledger.last_runs() == {}


def test_rows_that_are_not_the_kits_are_left_out(kit: PostgresKit) -> None:
    term = kit.lead("a")
    ledger = kit.ledger()
    at = datetime.now(UTC)
    assert ledger.claim("j", at, term, "a", "r1") is ClaimResult.CLAIMED
    kit.execute("UPDATE {schema}.fires SET outcome = 'vanished'")
    assert ledger.last_runs()["j"].outcome == "unknown", "a later version's outcome"
    kit.execute("DELETE FROM {schema}.fires")
    assert ledger.last_runs()["j"].outcome == "unknown", "an expired claim"
    kit.execute("INSERT INTO {schema}.last_claims VALUES ('absurd', 9223372036854775807)")
    assert set(ledger.last_claimed_all()) == {"j"}
    kit.execute("INSERT INTO {schema}.runs (job_id, succeeded, entry) VALUES ('j', true, 'not json')")
    ledger.finish(_ended("j", "r1", at))
    assert [run.run_id for run in ledger.history("j", 10)] == ["r1"]
    kit.execute("UPDATE {schema}.floor SET at_us = 0, reason = 'none'")
    assert ledger.resume_floor() is None, "a floor at 0 holds nothing back"
