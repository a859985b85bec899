"""Holes in exactly-once that a review found, each pinned: real gunicorn masters and redis-server,
except where the docstring says the logic is tested on its own (with a fake term or clock)."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from redis_support import RedisServer
from support import (
    FakeClock,
    Host,
    HostFactory,
    assert_no_duplicates,
    assert_no_gaps,
    leader_of,
    read_fires,
    recording_jobs,
    start_nodes,
    wait_for,
)

from scheduler_proc import JobDefinitionError, Jobs
from scheduler_proc.coordination.local.ledger import LocalLedger
from scheduler_proc.coordination.local.nodestate import TermMemory
from scheduler_proc.coordination.records import ClaimResult, Command
from scheduler_proc.coordination.redis.bus import RedisBus
from scheduler_proc.coordination.redis.conn import connect
from scheduler_proc.coordination.redis.keys import Keys
from scheduler_proc.coordination.redis.lease import redis_leadership
from scheduler_proc.coordination.redis.ledger import RedisLedger
from scheduler_proc.coordination.term import Term
from scheduler_proc.errors import SettingsError
from scheduler_proc.runner.dispatch import Dispatcher
from scheduler_proc.settings import RedisSettings, Settings

TOKEN = "exactly-once-admin-token-0123"


def _cluster(hosts: HostFactory, url: str, count: int, jobs: str = "ticker:jobs", **env: str) -> list[Host]:
    return start_nodes(hosts, count, jobs, {"SCHEDULER_REDIS_URL": url, "SCHEDULER_LEASE_TTL": "1", **env})


def _seconds_after(host: Host, moment: float) -> int:
    return len({f["scheduled_at"] for f in read_fires(host.fire_log) if f["started"] > moment})


def _redis_settings(server: RedisServer, **env: str) -> RedisSettings:
    settings = Settings.from_env({"SCHEDULER_REDIS_URL": server.url, "SCHEDULER_LEASE_TTL": "1", **env}).redis
    assert settings is not None
    return settings


# -- Redis that comes back with older data ----------------------------------------------------------


def test_redis_restarted_from_an_older_snapshot_runs_no_fire_twice(
    hosts: HostFactory, redis_server: RedisServer
) -> None:
    """Redis reloads a snapshot taken seconds before: the claims made since are gone, yet the new
    leader runs none of those fires again; it logs them as skipped (the run id changed)."""
    nodes = _cluster(hosts, redis_server.url, 2)
    leader = leader_of(nodes)
    wait_for(lambda: _seconds_after(leader, 0) >= 2, 10, "fires before the snapshot")
    redis_server.snapshot()
    snapped = time.time()
    wait_for(lambda: _seconds_after(leader, snapped) >= 3, 10, "fires the snapshot does not have")
    redis_server.restart_from_snapshot()
    restarted = time.time()
    wait_for(lambda: _seconds_after(leader, restarted + 1) >= 3, 20, "fires after the restart")
    fires = read_fires(leader.fire_log)
    assert_no_duplicates(fires)
    logs = "".join(node.output() for node in nodes)
    assert "Redis restarted or failed over (its run id changed)" in logs
    assert "are not started: Redis restarted or failed over" in logs


def test_redis_that_lost_everything_never_repeats_a_fencing_token(redis_server: RedisServer, tmp_path: Path) -> None:
    """Fencing tokens never repeat: the highest term is kept in the node's state directory, so a
    node restarted after Redis lost its data asks for a higher term than any it saw."""
    settings = _redis_settings(redis_server)
    memory = tmp_path / "terms.json"
    clock = FakeClock()
    first = redis_leadership(settings, connect(settings), Keys("f"), "a", clock=clock, memory=TermMemory(memory))
    for _ in range(3):
        clock.now += 1
        first.tick()
        first.release()
    highest = json.loads(memory.read_text())["highest_term"]
    fence = redis_server.client().get(Keys("f").fence)
    assert fence is not None and highest == int(fence)
    redis_server.client().flushall()
    again = redis_leadership(settings, connect(settings), Keys("f"), "a", clock=FakeClock(), memory=TermMemory(memory))
    again.tick()
    term = again.current_term()
    assert term is not None and term.fencing_token > highest
    floor = redis_server.client().hgetall(Keys("f").floor)
    assert "lost its data" in floor["reason"]


# -- claims that get no answer ------------------------------------------------------------------


def test_a_claim_without_an_answer_is_retried_while_the_lease_holds(
    hosts: HostFactory, redis_server: RedisServer
) -> None:
    """Redis stalls longer than the socket timeout while the lease (TTL 10 s) survives: the claims
    time out after Redis ran them, are retried under the same run ids, granted again, and every
    second runs exactly once (they used to be refused as unavailable and lost)."""
    node = hosts("node-a", workers=1, env={"SCHEDULER_REDIS_URL": redis_server.url, "SCHEDULER_LEASE_TTL": "10"})
    node.start_and_wait()
    wait_for(lambda: _seconds_after(node, 0) >= 2, 10, "fires before the stall")
    redis_server.signal(signal.SIGSTOP)
    stalled = time.time()
    wait_for(lambda: time.time() - stalled > 2.2, 5, "a stall longer than the 1 s socket timeout")
    redis_server.signal(signal.SIGCONT)
    wait_for(lambda: _seconds_after(node, stalled + 3) >= 3, 15, "fires after the stall")
    fires = read_fires(node.fire_log)
    assert_no_duplicates(fires)
    assert_no_gaps(fires)
    assert "retrying while this node leads" in node.output()


def test_wait_timeout_must_stay_below_the_socket_timeout() -> None:
    """A WAIT longer than the socket timeout made claims run in Redis while the caller saw a timeout."""
    with pytest.raises(SettingsError, match=r"SCHEDULER_REDIS_WAIT_TIMEOUT=0.6 is too long for SCHEDULER_LEASE_TTL=4"):
        Settings.from_env(
            {
                "SCHEDULER_REDIS_URL": "redis://127.0.0.1/0",
                "SCHEDULER_LEASE_TTL": "4",
                "SCHEDULER_REDIS_MIN_REPLICAS": "1",
                "SCHEDULER_REDIS_WAIT_TIMEOUT": "0.6",
            }
        )


# -- a claimed fire that may no longer start ------------------------------------------------------


def test_a_claimed_fire_does_not_start_once_its_term_ended(tmp_path: Path) -> None:
    """Leadership is checked right before a job starts (logic, with a term the test ends): a fire
    claimed under a term that ended while it waited is recorded as skipped, not run."""
    jobs, ran = recording_jobs()
    ledger = LocalLedger(tmp_path / "l.sqlite3", retention=3600)
    current = {"yes": True}
    term = Term(7, lambda: current["yes"])
    dispatcher = Dispatcher({s.id: s for s in jobs}, ledger, "n", 30, lambda: term if current["yes"] else None)
    now = datetime.now(UTC)
    [flights] = dispatcher.claim([("t", [now, now + timedelta(seconds=1)], None, "schedule")])
    assert len(flights) == 2
    current["yes"] = False  # e.g. the lease lapsed while the catch-up ran the first fire
    dispatcher.run_claimed(flights)
    assert ran == []
    assert dispatcher.recorder.flush(5)
    history = ledger.history("t", 10)
    assert [run.outcome for run in history] == ["skipped", "skipped"]
    assert "leadership term 7 it was claimed under ended before it could start" in str(history[0].error)


# -- clocks ---------------------------------------------------------------------------------------


def test_a_host_whose_clock_is_off_refuses_to_lead(hosts: HostFactory, redis_server: RedisServer) -> None:
    """A host 3 s ahead of Redis (SCHEDULER_TEST_CLOCK_OFFSET shifts its scheduler's clock) never
    leads, says why once, shows its offset in status and metrics; the others run every second."""
    ahead = hosts(
        "node-ahead",
        workers=1,
        env={"SCHEDULER_REDIS_URL": redis_server.url, "SCHEDULER_LEASE_TTL": "1", "SCHEDULER_TEST_CLOCK_OFFSET": "3"},
    ).start_and_wait(role="standby")
    ahead.wait_log(r"this host's clock is \+[23]\.\d+s off Redis's .* more than SCHEDULER_MAX_CLOCK_OFFSET=1s")
    status = wait_for(
        lambda: (s := ahead.status()) and s["cluster"].get("clock_offset") is not None and s, 5, "the offset in status"
    )
    assert 2.8 < status["cluster"]["clock_offset"] < 3.2
    assert status["cluster"]["clock_ok"] is False
    metric = re.search(r'scheduler_clock_offset_seconds\{node="node-ahead"\} (\S+)', ahead.get("/metrics").text)
    assert metric and 2.8 < float(metric[1]) < 3.2, metric
    good = hosts("node-good", workers=1, env={"SCHEDULER_REDIS_URL": redis_server.url, "SCHEDULER_LEASE_TTL": "1"})
    good.start_and_wait()
    wait_for(lambda: _seconds_after(good, 0) >= 3, 10, "fires on the good node")
    good.signal(signal.SIGTERM)
    good.wait_exit(20)
    stopped = time.time()
    wait_for(lambda: time.time() - stopped > 3, 5, "time for the host that is off to (not) take over")
    assert not [f for f in read_fires(good.fire_log) if f["node"] == "node-ahead"]
    assert ahead.count_lines("more than SCHEDULER_MAX_CLOCK_OFFSET") == 1


def test_after_a_loss_the_floor_covers_a_leader_whose_clock_ran_ahead(redis_server: RedisServer) -> None:
    """When Redis may have lost claims, the floor is Redis's time plus the largest offset a leader
    may have (SCHEDULER_MAX_CLOCK_OFFSET), so a previous leader's fires from a clock running ahead
    are not run again."""
    settings = _redis_settings(redis_server, SCHEDULER_MAX_CLOCK_OFFSET="2")
    client = redis_server.client()
    client.set(Keys("c").server, "0" * 40)  # a run id of an earlier server: Redis restarted since
    leadership = redis_leadership(settings, connect(settings), Keys("c"), "a", clock=FakeClock())
    leadership.tick()
    assert leadership.leading
    seconds, micros = client.time()
    floor = client.hgetall(Keys("c").floor)
    assert abs(int(floor["at"]) - (seconds * 1000 + micros // 1000 + 2 * 2000)) < 500, floor
    ledger = RedisLedger(settings, connect(settings), Keys("c"), retention=3600)
    term = leadership.current_term()
    assert term is not None
    just_before = datetime.fromtimestamp(int(floor["at"]) / 1000 - 0.5, UTC)
    assert ledger.claim("j", just_before, term, "a", "r") is ClaimResult.FLOORED


# -- the local ledger ------------------------------------------------------------------------------


def test_pruning_keeps_each_jobs_latest_claim(tmp_path: Path) -> None:
    """A weekly job's only claim is older than the retention; pruning keeps it, so catch-up after a
    restart still resumes from it (it used to resume from nothing and skip the missed fire)."""
    path = tmp_path / "l.sqlite3"
    ledger = LocalLedger(path, retention=60)
    single = Term(None, lambda: True)
    week_ago = datetime.now(UTC) - timedelta(days=7)
    ledger.claim("weekly", week_ago - timedelta(days=7), single, "n", "w0")
    ledger.claim("weekly", week_ago, single, "n", "w1")
    db = sqlite3.connect(path)
    db.execute("UPDATE fires SET claimed_at = claimed_at - 14 * 86400")
    db.commit()
    ledger._last_prune = 0  # the next claim prunes
    ledger.claim("other", datetime.now(UTC), single, "n", "o1")
    assert ledger.last_claimed("weekly") == week_ago
    assert db.execute("SELECT COUNT(*) FROM fires WHERE job_id = 'weekly'").fetchone() == (1,)


def test_local_claims_are_synced_to_disk_when_they_commit(tmp_path: Path) -> None:
    """WAL with synchronous=NORMAL can lose the last commits on a power loss, and catch-up would run
    those fires again; the ledger syncs every claim (synchronous=FULL)."""
    ledger = LocalLedger(tmp_path / "l.sqlite3", retention=60)
    assert ledger._db is not None and ledger._db.execute("PRAGMA synchronous").fetchone() == (2,)


# -- manual runs ------------------------------------------------------------------------------------


def test_a_manual_run_that_was_refused_is_not_reported_as_done(hosts: HostFactory, redis_server: RedisServer) -> None:
    """With SCHEDULER_REDIS_MIN_REPLICAS=1 and no replica, a 'run now' is claimed but refused as
    unreplicated: the API answers 409 with the reason (it used to answer ok) and the CLI exits 1."""
    env = {"SCHEDULER_REDIS_MIN_REPLICAS": "1", "SCHEDULER_REDIS_WAIT_TIMEOUT": "0.05", "SCHEDULER_ADMIN_TOKEN": TOKEN}
    [node] = _cluster(hosts, redis_server.url, 1, jobs="reports:jobs", **env)
    leader_of([node])
    wait_for(lambda: "reason=unreplicated" in node.output(), 10, "a first fire past the new namespace's floor")
    answer = httpx.post(
        f"http://127.0.0.1:{node.port}/scheduler/jobs/report/run", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert answer.status_code == 409 and "not run: claim not acknowledged by enough replicas" in answer.text
    cli = node.cli("run", "report")
    assert cli.returncode == 1 and "not run: claim not acknowledged" in cli.stdout
    assert not [f for f in read_fires(node.fire_log) if f["job"] == "report"]


def test_a_command_stays_queued_until_the_leader_acknowledges_it(redis_server: RedisServer) -> None:
    """The command cursor moves only when a command is carried out and answered: a leader that dies
    in between leaves it for the next one (it used to move before the command was applied)."""
    settings = _redis_settings(redis_server)
    bus = RedisBus(settings, connect(settings), Keys("b"))
    command = Command.new("pause", "job")
    bus.submit(command)
    [seen] = bus.receive()
    assert seen.id == command.id
    [again] = bus.receive()  # the first leader died before answering
    assert again.id == command.id
    bus.ack(again, {"ok": True})
    assert bus.receive() == []
    assert bus.wait_ack(command, 1) == {"ok": True}


# -- uvicorn lifespan mode --------------------------------------------------------------------------


def test_lifespan_mode_restarts_a_supervisor_that_was_killed(hosts: HostFactory) -> None:
    """Under uvicorn --workers, kill -9 of the supervisor: the worker that owns the scheduler starts
    a new one and says so (nothing ran and nothing was logged before)."""
    from integration.test_embedded import UVICORN_3

    host = hosts(command=UVICORN_3).start_and_wait()
    wait_for(lambda: len(read_fires(host.fire_log)) >= 2, 10, "fires")
    [supervisor] = host.supervisor_pids()
    [runner] = host.runner_pids()
    os.kill(supervisor, signal.SIGKILL)
    killed = time.time()
    host.wait_log(rf"scheduler supervisor pid {supervisor} was killed by SIGKILL after \d+s; starting a new one in 1s")
    wait_for(
        lambda: any(f["pid"] != runner and f["started"] > killed for f in read_fires(host.fire_log)),
        10,
        "a fire from the new scheduler",
    )
    assert len(host.supervisor_pids()) == 1
    assert_no_duplicates(read_fires(host.fire_log))


# -- smaller ones ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "define, message",
    [
        (lambda j: j.every(seconds=1, id="x", misfire_grace_time=0), r"misfire_grace_time=0 would skip every fire"),
        (lambda j: j.every(seconds=1.000001, id="x"), r"is not a whole number of milliseconds; use for example"),
        (lambda j: j.every(seconds=float("inf"), id="x"), r"every\(seconds=inf\) must be a finite number"),
        (lambda j: j.every(seconds=1, id="x", jitter=float("nan")), r"jitter=nan must be a finite number of seconds"),
    ],
)
def test_definitions_that_would_lose_or_collide_fires_are_refused(
    define: Callable[[Jobs], Callable[[Callable[[], None]], object]], message: str
) -> None:
    """misfire_grace_time=0 lost every fire; an interval of 1.000001 s could fall on the odd
    microseconds that identify manual runs; NaN and infinity were accepted."""
    with pytest.raises(JobDefinitionError, match=message):
        define(Jobs())(lambda: None)


@pytest.mark.processes
def test_an_evicting_redis_is_refused_at_start(hosts: HostFactory, tmp_path: Path) -> None:
    """maxmemory-policy allkeys-lru can delete a claim (a double) or the lease: gunicorn refuses to
    start with the policy named and the fix."""
    server = RedisServer(tmp_path / "lru", extra=["--maxmemory-policy", "allkeys-lru"]).start()
    try:
        host = hosts(env={"SCHEDULER_REDIS_URL": server.url})
        host.start()
        assert host.wait_exit(30) != 0
        output = host.output()
        assert "has maxmemory-policy allkeys-lru" in output and "set `maxmemory-policy noeviction`" in output
        assert "Traceback" not in output
    finally:
        server.kill()


def test_a_redis_user_without_config_rights_gets_one_warning(hosts: HostFactory, redis_server: RedisServer) -> None:
    """A managed Redis that forbids CONFIG GET: one warning that the policy could not be checked."""
    admin = redis_server.client()
    admin.acl_setuser(
        "kit", enabled=True, passwords=["+kitpass"], keys=["*"], channels=["*"], commands=["+@all", "-config"]
    )
    url = f"redis://kit:kitpass@127.0.0.1:{redis_server.port}/0"
    host = hosts(env={"SCHEDULER_REDIS_URL": url, "SCHEDULER_LEASE_TTL": "1"}).start_and_wait()
    wait_for(lambda: read_fires(host.fire_log), 10, "a fire")
    assert host.count_lines("cannot read Redis's maxmemory-policy") == 1
    assert "kitpass" not in host.output()
