"""The leadership every store shares (scheduler_proc/coordination/lease/leadership.py), on each store's
real server: a standby asleep until the lease would run out is woken by the store's handover notice and
leads at once; the lease thread outlives a reply it cannot read; the clock it is judged on counts
suspended time. The Redis scenarios in depth: tests/integration/test_lease.py; PostgreSQL's:
tests/unit/coordination/postgres/test_lease.py."""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable

import pytest
from pg_lease_support import SCHEMA, node_settings, store
from pg_support import PostgresServer
from redis_support import RedisServer
from support import wait_for

from scheduler_proc import clock
from scheduler_proc.coordination.lease.leadership import ClusterLeadership
from scheduler_proc.coordination.postgres.conn import Client
from scheduler_proc.coordination.postgres.lease import postgres_leadership
from scheduler_proc.coordination.redis.conn import connect
from scheduler_proc.coordination.redis.keys import Keys
from scheduler_proc.coordination.redis.lease import redis_leadership
from scheduler_proc.settings import Settings

Nodes = Callable[[str], ClusterLeadership]


@pytest.fixture(params=["redis", "postgres"])
def nodes(request: pytest.FixtureRequest) -> Nodes:
    """A factory of nodes (by name) that share one lease on a real server of each store, TTL 1 s."""
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        redis = Settings.from_env({"SCHEDULER_REDIS_URL": server.url, "SCHEDULER_LEASE_TTL": "1"}).redis
        assert redis is not None
        return lambda node: redis_leadership(redis, connect(redis), Keys("shared"), node)
    postgres: PostgresServer = request.getfixturevalue("postgres_server")

    def postgres_node(node: str) -> ClusterLeadership:
        settings = node_settings(postgres, node)
        return postgres_leadership(settings, Client(store(settings)))

    return postgres_node


def test_the_lease_is_judged_on_a_clock_that_counts_suspended_time() -> None:
    assert inspect.signature(ClusterLeadership).parameters["clock"].default is clock.elapsed


def test_a_sleeping_standby_is_woken_by_the_handover_and_leads_at_once(nodes: Nodes) -> None:
    leader, standby = nodes("a"), nodes("b")
    leader.tick()
    standby.start()
    wait_for(lambda: standby.leader_node == "a", 2, "the standby sees a lead")
    time.sleep(0.3)  # asleep until the lease would run out, listening
    released = time.monotonic()
    leader.release()
    wait_for(lambda: standby.leading, 2, "the standby leads")
    assert time.monotonic() - released < 0.5, "woken by the notice, not by the lease running out"
    status = standby.status()
    assert status["leader_node"] == "b" and status["store_state"] == "ok" and status["lease_ttl"] == 1.0
    assert status["store"] in ("redis", "postgres") and ("redis" in status) == (status["store"] == "redis")
    standby.release()


def test_the_lease_thread_outlives_a_reply_it_cannot_read(
    postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A function changed by hand fails every renewal: the node steps down by its own clock, says what
    the store answered, and leads again once the function is the kit's again."""
    settings = node_settings(postgres_server, "a")
    leader = postgres_leadership(settings, Client(store(settings)))
    with caplog.at_level(logging.INFO, "scheduler"):
        leader.start()
        wait_for(lambda: leader.leading, 2, "a leads")
        renew = postgres_server.psql(
            "SELECT pg_get_functiondef(p.oid) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = %s AND p.proname = 'renew'",
            (SCHEMA,),
        )[0][0]
        postgres_server.psql(
            f"CREATE OR REPLACE FUNCTION {SCHEMA}.renew(lease_token text, ttl_ms int, margin_ms bigint DEFAULT NULL,"
            " OUT renewed boolean, OUT now_ms bigint, OUT discontinuity text)"
            " LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'changed by hand'; END $$"
        )
        wait_for(lambda: not leader.leading, 2, "a steps down")
        wait_for(lambda: "PostgreSQL answered the lease function with what it cannot read" in caplog.text, 2, "the log")
        assert "(changed by hand" in caplog.text  # (acquire still works: it leads anew each TTL, and fails again)
        postgres_server.psql(renew)
        wait_for(lambda: leader.leading, 5, "a leads again")
    leader.release()
