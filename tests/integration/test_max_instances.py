"""max_instances holds across leadership terms and engines of one node, and across a Redis that lost
its data (issue 22 items 1 and 2). Real gunicorn masters and a real redis-server, a short lease and
a 12 s job that is due every 5 s (tests/jobsets/liveness.py); each test reads the job's recorded
start and end times and asserts that two instances never ran at once."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from redis_support import RedisServer
from stores import ClusterStore
from support import Host, HostFactory, free_port, read_fires, recording_jobs, start_nodes, wait_for

from scheduler_proc.coordination.local.ledger import LocalLedger
from scheduler_proc.coordination.records import ClaimRequest, ClaimResult, LiveRun, Run
from scheduler_proc.coordination.redis.conn import connect
from scheduler_proc.coordination.redis.keys import Keys
from scheduler_proc.coordination.redis.lease import redis_leadership
from scheduler_proc.coordination.redis.ledger import RedisLedger
from scheduler_proc.coordination.term import Term
from scheduler_proc.runner.dispatch import Dispatcher, Submission
from scheduler_proc.runner.instances import Instances
from scheduler_proc.settings import Settings

#: Long enough that fires of the job (every 5 s) fall due while one runs, also after a stall.
_LONG = "12"


def _runs(fire_log: Path, job: str = "long") -> list[tuple[float, float, dict[str, Any]]]:
    """(start, end, start record) of each run of ``job``, by start time; a run not ended yet ends at +inf."""
    fires = [f for f in read_fires(fire_log) if f["job"] == job]
    ends = {(f["scheduled_at"], f["pid"]): f["started"] for f in fires if f.get("event") == "end"}
    starts = [f for f in fires if f.get("event") == "start"]
    return sorted((f["started"], ends.get((f["scheduled_at"], f["pid"]), math.inf), f) for f in starts)


def _assert_one_at_a_time(fire_log: Path, job: str = "long") -> None:
    """No run of ``job`` started before every earlier one had ended (its max_instances is 1)."""
    overlapping: list[tuple[dict[str, Any] | None, dict[str, Any]]] = []
    latest_end, latest = -math.inf, None
    for start, end, record in _runs(fire_log, job):
        if start < latest_end:
            overlapping.append((latest, record))
        if end > latest_end:
            latest_end, latest = end, record
    assert not overlapping, f"two instances of {job} ran at once: {overlapping}"


def _first_run_then_the_next(fire_log: Path) -> None:
    """Wait until the first run ended and another one started (the job goes on afterwards)."""
    wait_for(lambda: _runs(fire_log) and _runs(fire_log)[0][1] < math.inf, 30, "the first long run to end")
    wait_for(lambda: len(_runs(fire_log)) >= 2, 15, "the next run of the long job")


def _first_start(fire_log: Path) -> float:
    return wait_for(lambda: _runs(fire_log), 15, "the long job to start")[0][0]


def _cluster(hosts: HostFactory, store_env: dict[str, str], count: int) -> list[Host]:
    env = {**store_env, "SCHEDULER_LEASE_TTL": "2", "LONG_SECONDS": _LONG}
    return start_nodes(hosts, count, "liveness:jobs", env)


def test_the_same_node_leading_again_after_a_store_stall_starts_no_second_instance(
    hosts: HostFactory, store: ClusterStore
) -> None:
    """Redis stalls (SIGSTOP) longer than the 2 s lease while the 12 s job runs: the node steps down,
    leads again under a new term once Redis answers, and its new engine used to start a second
    instance at once (it counted only its own runs, and the claim leaves this process's markers to
    that count). The run of the earlier term counts now; the fire waits for it to end."""
    [node] = _cluster(hosts, store.env(), 1)
    node.wait_role("leader")
    _first_start(node.fire_log)
    store.pause()
    try:
        node.wait_log(r"lease of term \d+ could not be renewed in time", timeout=10)
        stalled = time.time()
        wait_for(lambda: time.time() - stalled > 1.5, 5, "a stall past the lease's expiry in the store")
    finally:
        store.resume()
    node.wait_log(r"leading the cluster as node node-0, term \d+", timeout=15, count=2)
    _first_run_then_the_next(node.fire_log)
    _assert_one_at_a_time(node.fire_log)
    assert re.search(r"fire waits job=long .*max_instances", node.output()), "the fire waited for the run"


def test_a_replaced_host_lock_file_starts_no_second_instance(hosts: HostFactory) -> None:
    """Single host: the lock file is replaced on disk while the 12 s job runs; the runner retires its
    engine and takes the lock again, and the new engine used to start a second instance (APScheduler
    counts per scheduler, and each engine has its own). The earlier engine's run counts now."""
    host = hosts(jobs="liveness:jobs", workers=1, env={"LONG_SECONDS": _LONG}).start_and_wait()
    _first_start(host.fire_log)
    lock = host.dir / "run" / "scheduler.lock"
    replacement = lock.with_name("scheduler.lock.replacement")
    replacement.write_text("")
    os.replace(replacement, lock)
    host.wait_log(r"was removed or replaced on disk", timeout=5)
    host.wait_log(r"host lock \S+ taken by pid", timeout=10, count=2)
    _first_run_then_the_next(host.fire_log)
    _assert_one_at_a_time(host.fire_log)


def test_a_store_back_from_a_backup_without_the_running_marker_starts_no_second_instance(
    hosts: HostFactory, store: ClusterStore
) -> None:
    """The store comes back from a backup taken before the 12 s job started (Redis: a snapshot;
    PostgreSQL: a dump), while the leader runs it, a second node standing by. Whichever node leads
    next, no second instance starts: the old leader counts its own run, and its running marker, which
    the store lost, is written again by the next renewal for the other node to see (renewals used to
    update only markers that still existed)."""
    nodes = _cluster(hosts, store.env(), 2)
    wait_for(lambda: any((n.status() or {}).get("role") == "leader" for n in nodes), 20, "a leader")
    store.keep_for_later()
    kept = time.time()
    fire_log = nodes[0].fire_log
    first = _first_start(fire_log)
    store.back_to_kept()
    restarted = time.time()
    assert restarted - first < 10, "the store went back while the long job still ran"
    assert first > kept, "the backup was taken after the job started: its marker was not lost"
    wait_for(
        lambda: [f for f in read_fires(fire_log) if f["job"] == "tick" and f["started"] > restarted + 3],
        20,
        "fires after the restart",
    )
    _first_run_then_the_next(fire_log)
    _assert_one_at_a_time(fire_log)


def test_a_stopping_leaders_run_holds_the_other_node_back_after_redis_lost_its_marker(
    hosts: HostFactory, redis_server: RedisServer
) -> None:
    """Redis restarts without data while the leader runs the 12 s job; the leader is then stopped
    (TERM), so the other node leads while the run goes on. Its marker, lost with Redis's data, is
    written again by the stopping node's next renewal, and the other node waits for the run to end
    (renewals used to update only markers that still existed, and it started a second instance)."""
    env = {
        "SCHEDULER_REDIS_URL": redis_server.url,
        "SCHEDULER_LEASE_TTL": "2",
        "LONG_SECONDS": _LONG,
        "GRACEFUL_TIMEOUT": "30",
    }
    nodes = start_nodes(hosts, 2, "liveness:jobs", env)
    leader = wait_for(
        lambda: next((n for n in nodes if (n.status() or {}).get("role") == "leader"), None), 20, "a leader"
    )
    [other] = [n for n in nodes if n is not leader]
    first = _first_start(leader.fire_log)
    redis_server.restart_empty()
    leader.signal(signal.SIGTERM)
    assert time.time() - first < 10, "Redis restarted and the leader stopped while the long job still ran"
    other.wait_log(r"leading the cluster as node node-\d, term \d+", timeout=15)
    _first_run_then_the_next(leader.fire_log)
    _assert_one_at_a_time(leader.fire_log)
    [first_run, second_run, *_] = _runs(leader.fire_log)
    assert first_run[2]["node"] == leader.name and second_run[2]["node"] == other.name, (first_run, second_run)
    leader.wait_exit(30)


class _Relay:
    """tests/vm/proxy.py on loopback between one node and Redis: ``cut()`` holds every byte back (a partition)."""

    def __init__(self, directory: Path, target_port: int) -> None:
        self.port = free_port()
        self.control = directory / "relay.json"
        self.control.write_text("{}")
        self.target_port = target_port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def __enter__(self) -> _Relay:
        relay = Path(__file__).parents[1] / "vm" / "proxy.py"
        listen, target = f"127.0.0.1:{self.port}", f"127.0.0.1:{self.target_port}"
        command = [sys.executable, str(relay), "--listen", listen, "--target", target, "--control", str(self.control)]
        self.process = subprocess.Popen(command, start_new_session=True)
        wait_for(self._listening, 10, f"the relay on port {self.port}")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def _listening(self) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def cut(self) -> None:
        self.control.write_text(json.dumps({"delay": 3600}))  # read within 0.5 s


def test_a_node_cut_off_from_redis_runs_on_and_another_starts_the_job_after_its_marker_expired(
    hosts: HostFactory, redis_server: RedisServer, tmp_path: Path
) -> None:
    """The limit that remains (docs/guarantees.md, issue 22 item 3): the leader is cut off from Redis
    while its 12 s job runs. It cannot renew its marker, which expires one TTL after its last renewal;
    the node that leads next then starts the job while the cut-off node's run goes on (that run sees
    ctx.is_current() False). Never before the marker expired: at least TTL minus one renewal interval
    (min(1 s, TTL/4)) after the cut."""
    ttl, renew_every = 2.0, 0.5
    env = {"SCHEDULER_LEASE_TTL": f"{ttl:g}", "LONG_SECONDS": _LONG}
    with _Relay(tmp_path, redis_server.port) as relay:
        cut_off = hosts("node-a", jobs="liveness:jobs", workers=1, env={**env, "SCHEDULER_REDIS_URL": relay.url})
        cut_off.start_and_wait("leader")
        other = hosts("node-b", jobs="liveness:jobs", workers=1, env={**env, "SCHEDULER_REDIS_URL": redis_server.url})
        other.start_and_wait("standby")
        _first_start(cut_off.fire_log)
        relay.cut()
        cut = time.time()
        second = wait_for(
            lambda: [run for run in _runs(cut_off.fire_log) if run[2]["node"] == "node-b"], 20, "node-b to run the job"
        )[0]
        [first] = [run for run in _runs(cut_off.fire_log) if run[2]["node"] == "node-a"]
        assert second[0] >= cut + ttl - renew_every - 0.5, "started before the cut-off node's marker could expire"
        assert second[0] < first[1], "the cut-off node's run went on beside it"
        ended = wait_for(
            lambda: [f for f in read_fires(cut_off.fire_log) if f.get("event") == "end" and f["node"] == "node-a"],
            20,
            "the cut-off node's run to end",
        )[0]
        assert ended["current"] is False, "its run knew it no longer led"
        assert ended["started"] > second[0], "two instances ran at once: the documented limit"


def test_a_marker_redis_lost_is_written_again_by_the_next_renewal(redis_server: RedisServer) -> None:
    """The ledger on its own: a run's running marker, lost with Redis's data, comes back at the next
    renewal (KEEP_RUNNING used ZADD XX, which only renews markers that still exist)."""
    ledger, term = _ledger_and_term(redis_server)
    at = _fire_time(redis_server)
    [result] = ledger.claim_many([ClaimRequest("job", at, "p1-run", max_instances=1)], term, "a")
    assert result is ClaimResult.CLAIMED
    running = Keys("t").running("job")
    assert redis_server.client().zscore(running, "p1-run") is not None
    redis_server.restart_empty()
    assert redis_server.client().zscore(running, "p1-run") is None
    ledger.keep_running([LiveRun("job", at, "p1-run")])
    assert redis_server.client().zscore(running, "p1-run") is not None, "the renewal writes the marker again"


def _ledger_and_term(server: RedisServer) -> tuple[RedisLedger, Term]:
    settings = Settings.from_env({"SCHEDULER_REDIS_URL": server.url, "SCHEDULER_LEASE_TTL": "2"}).redis
    assert settings is not None
    leadership = redis_leadership(settings, connect(settings), Keys("t"), "a")
    leadership.tick()
    term = leadership.current_term()
    assert term is not None
    return RedisLedger(settings, connect(settings), Keys("t"), retention=3600), term


def _fire_time(server: RedisServer) -> datetime:
    """Now, after moving out of the way the floor the namespace's first leader set a moment ahead."""
    server.client().hset(Keys("t").floor, "at", 0)
    return datetime.now(UTC)


def test_a_late_renewal_never_brings_back_the_marker_of_a_run_that_ended(redis_server: RedisServer) -> None:
    """The race between a run's end and a renewal that read the list of runs just before it: FINISH
    drops the marker, and the renewal that comes after it must not write it again, also when Redis
    had lost the run's claim before FINISH (FINISH then writes the outcome again for it to see)."""
    ledger, term = _ledger_and_term(redis_server)
    at = _fire_time(redis_server)
    running = Keys("t").running("job")
    for run_id, lose_data in (("p1-a", False), ("p1-b", True)):
        fire_at = at + timedelta(milliseconds=1 if lose_data else 0)
        [result] = ledger.claim_many([ClaimRequest("job", fire_at, run_id, max_instances=1)], term, "a")
        assert result is ClaimResult.CLAIMED, run_id
        late = [LiveRun("job", fire_at, run_id)]  # read while the run still went on
        if lose_data:
            redis_server.restart_empty()
        ledger.finish(_ended(run_id, fire_at))
        assert redis_server.client().zscore(running, run_id) is None
        ledger.keep_running(late)
        assert redis_server.client().zscore(running, run_id) is None, f"{run_id}: the late renewal brought it back"


def _ended(run_id: str, at: datetime) -> Run:
    return Run("job", run_id, at, "a", None, "schedule", time.time() - 1, time.time(), "success", None)


def test_engines_of_one_process_share_the_count_of_running_instances(tmp_path: Path) -> None:
    """Logic, with a fake term: two dispatchers (the engines of two terms) share one Instances. A run
    claimed by the first holds back the second's fire until it ends; claims of the job made together
    count each other (each reserves its place before the ledger is asked)."""
    jobs, ran = recording_jobs()
    specs = {spec.id: spec for spec in jobs}
    ledger = LocalLedger(tmp_path / "l.sqlite3", retention=3600)
    instances = Instances()
    old, new = (Dispatcher(specs, ledger, "n", 30, _always(t), instances=instances) for t in _terms(2))
    now = datetime.now(UTC)
    [[running]] = old.claim([("t", [now], None, "schedule")])
    assert instances.running("t") == 1
    assert new.claim([("t", [now + timedelta(seconds=1)], None, "schedule")]) == [[]], "it waits, not claimed"
    assert new.retry_waiting() == [], "still running"
    old.run_claimed([running])  # the earlier term's run ends
    assert instances.running("t") == 0
    [[waited]] = new.retry_waiting()
    both = new.claim(
        [("t", [now + timedelta(seconds=2)], None, "schedule"), ("t", [now + timedelta(seconds=3)], None, "schedule")]
    )
    assert both == [[], []], "the waiting fire's run holds its place until it ends"
    new.run_claimed([waited])
    assert ran == [now, now + timedelta(seconds=1)]
    assert instances.running("t") == 0
    later: list[Submission] = [
        ("t", [now + timedelta(seconds=4)], None, "manual"),
        ("t", [now + timedelta(seconds=5)], None, "manual"),
    ]
    assert [len(group) for group in new.claim(later)] == [1, 0], "two claims at once: only the first gets the place"


def _always(term: Term) -> Callable[[], Term]:
    """A dispatcher's ``may_dispatch`` for a term that never ends."""
    return lambda: term


def _terms(count: int) -> list[Term]:
    return [Term(fencing_token, lambda: True) for fencing_token in range(1, count + 1)]


def test_a_running_set_of_the_wrong_type_is_repaired_without_touching_the_claim(redis_server: RedisServer) -> None:
    """The renewal script refuses a running set someone replaced by another type; the repair deletes
    that set, and never the fire's hash beside it in the same call (that is the claim: deleting it
    would let the fire run again)."""
    ledger, term = _ledger_and_term(redis_server)
    at = _fire_time(redis_server)
    [result] = ledger.claim_many([ClaimRequest("job", at, "p1-run", max_instances=1)], term, "a")
    assert result is ClaimResult.CLAIMED
    client, keys = redis_server.client(), Keys("t")
    fire = keys.fire("job", int(at.timestamp() * 1_000_000))
    assert client.type(fire) == "hash"
    client.delete(keys.running("job"))
    client.set(keys.running("job"), "not a sorted set")
    ledger.keep_running([LiveRun("job", at, "p1-run")])
    assert client.type(fire) == "hash" and client.hget(fire, "run_id") == "p1-run", "the claim was deleted"
    assert client.type(keys.running("job")) in ("none", "zset")
    ledger.keep_running([LiveRun("job", at, "p1-run")])
    assert client.zscore(keys.running("job"), "p1-run") is not None, "the next renewal writes the marker again"


def test_a_runner_waiting_on_redis_for_a_waiting_fire_is_not_killed_by_its_watchdog(
    hosts: HostFactory, redis_server: RedisServer
) -> None:
    """A fire waits for the running instance; its claim retries on the runner's loop while Redis
    stalls (within the 12 s lease), up to 0.75 x TTL. The supervisor's heartbeat came only from
    that loop, so it aborted a healthy runner (SIGABRT after the watchdog timeout + 3 s) and the
    running job died unrecorded. Waiting on Redis is not a hang."""
    env = {
        "SCHEDULER_REDIS_URL": redis_server.url,
        "SCHEDULER_LEASE_TTL": "12",
        "SCHEDULER_WATCHDOG_TIMEOUT": "2",
        "LONG_SECONDS": "20",
    }
    [node] = start_nodes(hosts, 1, "liveness:jobs", env)
    node.wait_role("leader", timeout=30)
    _first_start(node.fire_log)
    node.wait_log(r"fire waits job=long", timeout=15)  # the next fire now retries on the loop
    [runner] = node.runner_pids()
    redis_server.signal(signal.SIGSTOP)
    try:
        stalled = time.monotonic()
        wait_for(lambda: time.monotonic() - stalled > 7, 10, "a stall past the watchdog timeout + 3 s")
    finally:
        redis_server.signal(signal.SIGCONT)
    wait_for(lambda: len(read_fires(node.fire_log)) > 0 and node.runner_pids(), 10, "the runner")
    assert node.runner_pids() == [runner], node.output()[-3000:]
    assert "SIGABRT" not in node.output() and "no heartbeat" not in node.output()
