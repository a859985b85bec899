"""The lease state machine with a fake clock, and fencing/dedupe against a real Redis."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from redis_support import RedisServer
from support import FakeClock, recording_jobs, wait_for

from scheduler_proc.coordination.lease.leadership import ClusterLeadership
from scheduler_proc.coordination.lease.leasestate import LeaseState
from scheduler_proc.coordination.records import ClaimRequest, ClaimResult, HistoryLimits, Run, to_micros
from scheduler_proc.coordination.redis.conn import connect
from scheduler_proc.coordination.redis.keys import Keys
from scheduler_proc.coordination.redis.lease import redis_leadership
from scheduler_proc.coordination.redis.leasecalls import parse_token
from scheduler_proc.coordination.redis.ledger import RedisLedger
from scheduler_proc.coordination.redis.replies import (
    Acquired,
    HeldByOther,
    Renewal,
    acquire_reply,
    quiet_renew_reply,
    renew_reply,
)
from scheduler_proc.coordination.redis.schema import FIRE_FIELDS
from scheduler_proc.coordination.term import Term
from scheduler_proc.formats.vocabulary import RunOutcome
from scheduler_proc.runner.dispatch import Dispatcher
from scheduler_proc.settings import RedisSettings, Settings


def test_validity_counts_from_when_the_renewal_was_sent_minus_a_margin() -> None:
    state = LeaseState(ttl=10, margin=2.5)
    assert not state.valid(0)
    state.granted(7, "7:n:a", sent_at=100)
    assert state.valid(107.4) and not state.valid(107.5)
    state.renewed(sent_at=105)  # the reply came late; only the send time counts
    assert state.valid(112.4) and not state.valid(112.5)
    state.renewed(sent_at=101)  # a slow, older renewal never shortens validity
    assert state.valid(112.4)
    state.lost()
    assert not state.valid(105) and state.fencing_token is None


def test_token_carries_term_and_node() -> None:
    assert parse_token("12:abc:web-1:a") == (12, "web-1:a")


def _redis_settings(server: RedisServer, ttl: float = 1.0) -> RedisSettings:
    settings = Settings.from_env({"SCHEDULER_REDIS_URL": server.url, "SCHEDULER_LEASE_TTL": str(ttl)}).redis
    assert settings is not None
    return settings


def _leadership(server: RedisServer, node: str, clock: FakeClock) -> ClusterLeadership:
    settings = _redis_settings(server)
    return redis_leadership(settings, connect(settings), Keys("t"), node, clock=clock)


def _past_first_start(server: RedisServer, namespace: str) -> None:
    """Claims at made-up past times: move the floor the namespace's first leader set out of their way.

    (A new term counter may follow a loss of data, so the first leader of a namespace sets
    a floor a moment ahead; real fires fall after it.)
    """
    server.client().hset(Keys(namespace).floor, "at", 0)


def test_one_leader_terms_increase_and_release_hands_over(redis_server: RedisServer) -> None:
    clock = FakeClock()
    a, b = _leadership(redis_server, "a", clock), _leadership(redis_server, "b", clock)
    a.tick()
    b.tick()
    assert a.leading and not b.leading and b.leader_node == "a"
    first = a.current_term()
    # A new counter starts at Redis's time in milliseconds: above anything an earlier counter reached.
    assert first is not None and first.fencing_token is not None
    assert abs(first.fencing_token - time.time() * 1000) < 5000
    # redis-py leaves pubsub() unannotated.
    pubsub = redis_server.client().pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
    pubsub.subscribe(Keys("t").handover)
    a.release()
    notice = wait_for(lambda: pubsub.get_message(timeout=0.1), 5, "the handover notice")
    assert notice["data"] == first.lease_token, "the release tells the standbys"
    clock.now += 1.1  # a standby sleeps until the lease it saw would expire (or a notice wakes it)
    b.tick()
    second = b.current_term()
    assert b.leading and second is not None and second.fencing_token == first.fencing_token + 1
    assert not first.is_current() and second.is_current()


def test_leader_steps_down_on_its_own_clock_when_renewals_stop(redis_server: RedisServer) -> None:
    clock = FakeClock()
    a = _leadership(redis_server, "a", clock)
    a.tick()
    assert a.leading
    clock.now += 0.74
    assert a.leading
    clock.now += 0.02  # past ttl - margin (0.75 s) with no renewal sent
    assert not a.leading and a.current_term() is None


def test_claims_are_fenced_and_deduplicated(redis_server: RedisServer) -> None:
    clock = FakeClock()
    settings = _redis_settings(redis_server)
    a = _leadership(redis_server, "a", clock)
    a.tick()
    _past_first_start(redis_server, "t")
    term = a.current_term()
    assert term is not None
    ledger = RedisLedger(settings, connect(settings), Keys("t"), retention=3600)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert ledger.claim("job", at, term, "a", "r1") is ClaimResult.CLAIMED
    assert ledger.claim("job", at, term, "a", "r2") is ClaimResult.DUPLICATE
    ledger.finish(
        Run(
            job_id="job",
            run_id="r1",
            scheduled_at=at,
            node="a",
            term=term.fencing_token,
            origin="schedule",
            started_at=1.0,
            finished_at=2.0,
            outcome="success",
            error=None,
        )
    )
    assert ledger.last_claimed("job") == at and ledger.last_runs()["job"].outcome == "success"
    [run] = ledger.history("job", 10)
    assert run.run_id == "r1" and run.term == term.fencing_token and run.duration == 1.0
    stale = Term(fencing_token=term.fencing_token, is_current=lambda: True, lease_token="1:forged:a")
    assert ledger.claim("job", datetime(2026, 1, 2, tzinfo=UTC), stale, "a", "r3") is ClaimResult.FENCED
    a.release()
    later = datetime(2026, 1, 3, tzinfo=UTC)
    assert ledger.claim("job", later, term, "a", "r4") is ClaimResult.FENCED, "a released term must not claim"


def test_keys_share_one_hash_tag() -> None:
    keys = Keys("shop")
    assert {keys.leader, keys.fence, keys.last, keys.fire("j", 1)} == {
        "{shop}:leader",
        "{shop}:fence",
        "{shop}:last",
        "{shop}:fire:j:1",
    }


def test_min_replicas_without_replicas_refuses_to_run_the_fire(redis_server: RedisServer) -> None:
    clock = FakeClock()
    settings = Settings.from_env(
        {
            "SCHEDULER_REDIS_URL": redis_server.url,
            "SCHEDULER_LEASE_TTL": "1",
            "SCHEDULER_REDIS_MIN_REPLICAS": "1",
            "SCHEDULER_REDIS_WAIT_TIMEOUT": "0.05",
        }
    ).redis
    assert settings is not None
    a = redis_leadership(settings, connect(settings), Keys("w"), "a", clock=clock)
    a.tick()
    _past_first_start(redis_server, "w")
    term = a.current_term()
    assert term is not None
    ledger = RedisLedger(settings, connect(settings), Keys("w"), retention=3600)
    assert ledger.claim("job", datetime(2026, 1, 1, tzinfo=UTC), term, "a", "r") is ClaimResult.UNREPLICATED


def test_a_burst_is_claimed_and_recorded_in_chunks_each_fire_once(redis_server: RedisServer) -> None:
    from scheduler_proc.coordination.redis.ledger import CHUNK

    settings = _redis_settings(redis_server)
    a = _leadership(redis_server, "a", FakeClock())
    a.tick()
    _past_first_start(redis_server, "t")
    term = a.current_term()
    assert term is not None
    keys = Keys("t")  # the namespace the leadership above took
    ledger = RedisLedger(settings, connect(settings), keys, retention=3600)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    count = CHUNK * 2 + 7  # three chunks, the last one partial
    requests = [ClaimRequest(f"job:{i}", at, f"r{i}") for i in range(count)]  # ':' in ids, as users may write
    requests.insert(CHUNK - 1, ClaimRequest("job:0", at, "again"))  # a duplicate inside the first chunk
    requests.append(ClaimRequest("job:1", datetime(2026, 1, 2, tzinfo=UTC), "manual", manual=True))
    results = ledger.claim_many(requests, term, "a")
    assert results.count(ClaimResult.CLAIMED) == count + 1
    assert results[CHUNK - 1] is ClaimResult.DUPLICATE
    assert ledger.claim_many(requests[:3], term, "a") == [ClaimResult.CLAIMED] * 3, "a retry is granted again"
    others = [request._replace(run_id=f"{request.run_id}-other") for request in requests[:3]]
    assert ledger.claim_many(others, term, "a") == [ClaimResult.DUPLICATE] * 3
    fire = connect(settings).hgetall(keys.fire("job:7", 1767225600000000))
    assert fire == {
        "job_id": "job:7",
        "scheduled_us": "1767225600000000",
        "node": "a",
        "term": str(term.fencing_token),
        "run_id": "r7",
        "claimed_at": fire["claimed_at"],
        "outcome": "running",
    }
    assert ledger.last_claimed("job:1") == at, "a manual run does not move where catch-up resumes"
    fencing = term.fencing_token
    runs = [
        Run(f"job:{i}", f"r{i}", at, "a", fencing, "schedule", 1.0, 2.0, "success" if i % 2 else "error", None)
        for i in range(count)
    ]
    ledger.finish_many(runs)
    assert ledger.last_runs()["job:3"].outcome == "success" and ledger.last_runs()["job:4"].outcome == "error"
    recorded = connect(settings).hgetall(keys.fire("job:7", 1767225600000000))
    assert sorted(recorded) == sorted(FIRE_FIELDS), "a claimed and recorded fire holds the schema's fields"
    assert [run.run_id for run in ledger.history(f"job:{count - 1}", 10)] == [f"r{count - 1}"]
    a.release()
    assert set(ledger.claim_many(requests[-5:], term, "a")) == {ClaimResult.FENCED}


class _TwoPrimaries(redis.ConnectionPool):
    """A pool whose connections reach two primaries in turn: a Sentinel client's pool after a
    failover, with some connections still on the old primary (back from a pause) and some
    on the new one. Each command gets a connection made afresh, to the next port in turn, so
    the turns are deterministic. Only redis-py's public pool and connection API is used."""

    def __init__(self, old_port: int, new_port: int) -> None:
        ports = itertools.cycle([old_port, new_port])

        class Alternating(redis.Connection):
            def disconnect(self, *args: Any) -> None:
                # redis-py leaves disconnect unannotated.
                super().disconnect(*args)  # type: ignore[no-untyped-call]
                self.port = next(ports)

        super().__init__(
            connection_class=Alternating, host="127.0.0.1", port=next(ports), decode_responses=True, socket_timeout=2
        )

    def release(self, connection: Any) -> None:
        super().release(connection)
        connection.disconnect()  # the next command connects again, to the other primary


@pytest.mark.processes
def test_only_claims_a_replica_of_the_same_primary_acknowledged_count(tmp_path: Path) -> None:
    old = RedisServer(tmp_path / "old").start()  # its replicas have left it
    new = RedisServer(tmp_path / "new").start()
    replica = RedisServer(tmp_path / "replica", replica_of=new.port).start()
    try:
        wait_for(lambda: new.client().info("replication").get("slave0", {}).get("state") == "online", 10, "the replica")
        keys = Keys("split")
        for server in (old, new):  # the node holds the lease on both, as a split brain would have it
            server.client().set(keys.leader, "tok")
        settings = Settings.from_env(
            {
                "SCHEDULER_REDIS_URL": new.url,
                "SCHEDULER_REDIS_MIN_REPLICAS": "1",
                "SCHEDULER_REDIS_WAIT_TIMEOUT": "0.05",
            }
        ).redis
        assert settings is not None
        ledger = RedisLedger(
            settings, redis.Redis(connection_pool=_TwoPrimaries(old.port, new.port)), keys, retention=3600
        )
        term = Term(fencing_token=1, is_current=lambda: True, lease_token="tok")
        claimed = []
        for second in range(12):
            at = datetime(2026, 1, 1, 0, 0, second, tzinfo=UTC)
            if ledger.claim("job", at, term, "a", f"r{second}") is ClaimResult.CLAIMED:
                claimed.append(keys.fire("job", to_micros(at)))
        assert claimed, "claims that reached the primary with a replica run"
        assert all(new.client().exists(key) for key in claimed), "a claim only the old primary took was run"
    finally:
        for server in (old, new, replica):
            server.kill()


def test_a_term_that_only_a_vanished_node_saw_is_never_handed_out_again(redis_server: RedisServer) -> None:
    """Redis loses the increment that gave node a its term (a restart from a snapshot taken
    before it, a failover), and a has gone with its memory of it: node b, which never saw that
    term, must not get the same number (it did, within the same second)."""
    settings = Settings.from_env({"SCHEDULER_REDIS_URL": redis_server.url, "SCHEDULER_LEASE_TTL": "2"}).redis
    assert settings is not None
    a = redis_leadership(settings, connect(settings), Keys("lost"), "a")
    a.tick()
    first = a.current_term()
    assert first is not None and first.fencing_token is not None
    client = redis_server.client()
    client.delete(Keys("lost").leader, Keys("lost").fence)  # what a snapshot from before a's term holds
    client.set(Keys("lost").server, "0" * 40)  # ... on a server with another run id
    b = redis_leadership(settings, connect(settings), Keys("lost"), "b")
    b.tick()
    second = b.current_term()
    assert second is not None and second.fencing_token is not None
    assert second.fencing_token > first.fencing_token, (first.fencing_token, second.fencing_token)


def test_a_renewal_still_on_its_way_when_validity_runs_out_decides_before_the_lease_counts_as_lost(
    redis_server: RedisServer,
) -> None:
    """Issue 22 item 14: a Redis stall shorter than the lease lost a fire now and then. The
    renewal sent inside the lease's validity was answered (renewed) only after its own clock
    passed validity; in that moment the fire's pre-start check, a claim or the runner's loop
    read 'not leading', refused or dropped the fire, and the same term then led on. A caller
    that finds the lease lapsed while a renewal is on its way waits for its answer."""
    settings = _redis_settings(redis_server, ttl=4.0)  # renew every 1 s, valid 3 s, socket timeout 1 s
    keeper_now, caller_now = 2.9, 3.1  # the renewal leaves inside validity; the caller asks just after it
    keeper: list[threading.Thread] = []

    def clock() -> float:
        return keeper_now if keeper and threading.current_thread() is keeper[0] else caller_now

    caller_now = 0.0
    a = redis_leadership(settings, connect(settings), Keys("item14"), "a", clock=clock)
    a.tick()
    term = a.current_term()
    assert term is not None
    caller_now = 3.1
    assert not a.leading  # by its own clock, with no renewal sent: lapsed (safety first)
    # The renewal waits in Redis (redis-py leaves execute_command unannotated).
    redis_server.client().execute_command("CLIENT", "PAUSE", 400, "ALL")  # type: ignore[no-untyped-call]
    keeper.append(threading.Thread(target=a.tick))
    keeper[0].start()
    wait_for(lambda: a._tick_lock.locked(), timeout=5, what="the renewal to be sent")
    assert term.is_current(), "a fire claimed under a term that goes on was refused at its start"
    assert a.current_term() is not None, "the runner's loop took a renewed lease for a lost one"
    keeper[0].join(5)
    assert a.leading and a.state.fencing_token == term.fencing_token


def test_a_claim_refused_as_early_proves_the_clock_ahead_and_the_leader_steps_down(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 22 item 9: on a slow or uneven link the round-trip measure can pass a clock that
    runs ahead (it flags only what its most favourable reading shows), and the node led on
    while Redis refused every claim as early, each logged with a reason no status agreed with.
    A claim refused as early proves the clock ahead: the leader steps down at once, says so
    once at ERROR, and does not lead again on the next measure."""
    env = {"SCHEDULER_REDIS_URL": redis_server.url, "SCHEDULER_LEASE_TTL": "4", "SCHEDULER_MAX_CLOCK_OFFSET": "0.5"}
    settings = Settings.from_env(env).redis
    assert settings is not None
    a = redis_leadership(settings, connect(settings), Keys("early"), "a")  # its measure finds the clock fine
    a.tick()
    assert a.leading
    ledger = RedisLedger(settings, connect(settings), Keys("early"), retention=3600)
    jobs, _ = recording_jobs()
    dispatcher = Dispatcher({spec.id: spec for spec in jobs}, ledger, "a", 30, a.current_term)
    ahead = datetime.now(UTC) + timedelta(seconds=3)  # what a clock 3 s ahead schedules 'now'
    [claimed] = dispatcher.claim([("t", [ahead], None, "schedule")])
    assert claimed == []
    refused = [r.getMessage() for r in caplog.records if "reason=early" in r.getMessage()]
    assert refused and "this host's clock runs ahead (it steps down)" in refused[0], refused
    assert not a.leading and a.current_term() is None, "a leader went on leading while Redis refused its claims"
    a.tick()  # gives the lease back; the next tries only measure the clock
    [claimed] = dispatcher.claim([("t", [ahead + timedelta(seconds=1)], None, "schedule")])
    assert claimed == []
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR" and "refused as early" in r.getMessage()]
    assert len(errors) == 1, errors
    assert redis_server.client().get(Keys("early").leader) is None, "the lease was not given back"
    a.tick()
    assert not a.leading and not a.status()["clock_ok"]


def test_redis_history_keeps_failures_apart_from_successes(redis_server: RedisServer) -> None:
    """Issue 25 item 9: many successes no longer push a job's rare failures out of its history."""
    settings = _redis_settings(redis_server)
    limits = HistoryLimits(succeeded=2, other=3)
    ledger = RedisLedger(settings, connect(settings), Keys("hist"), retention=3600, history=limits)
    at = datetime(2026, 1, 1, tzinfo=UTC)

    def run(second: int, outcome: RunOutcome) -> Run:
        started = at.timestamp() + second
        return Run(
            "j", f"r{second}", at + timedelta(seconds=second), "a", 1, "schedule", started, started + 0.5, outcome, None
        )

    ledger.finish_many([run(1, "success"), *(run(s, "error") for s in range(2, 7))])
    assert [r.run_id for r in ledger.history("j", 10)] == ["r6", "r5", "r4", "r1"]
    ledger.finish_many([run(s, "success") for s in range(7, 12)])
    assert [r.run_id for r in ledger.history("j", 10)] == ["r11", "r10", "r6", "r5", "r4"]
    assert [r.run_id for r in ledger.history("j", 3)] == ["r11", "r10", "r6"]
    assert redis_server.client().llen(Keys("hist").failures("j")) == 3


def test_lease_script_replies_are_decoded_into_named_values_or_refused() -> None:
    assert acquire_reply([1, 7, "7:ab:n", 1000, ""]) == Acquired(7, "7:ab:n", 1000, "")
    assert acquire_reply([0, "7:ab:other", 2500, 1000]) == HeldByOther("7:ab:other", 2500, 1000)
    assert renew_reply([1, 1000, "?"]) == Renewal(True, 1000, "?")
    assert quiet_renew_reply(0) is False
    for garbage in ([1, "x", "t", 1, ""], [0], "nonsense"):
        with pytest.raises((ValueError, TypeError, IndexError)):
            acquire_reply(garbage)
