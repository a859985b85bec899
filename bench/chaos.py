"""make chaos: random, seeded faults against N real gunicorn masters on one real Redis.

Runs the kit in cluster mode, then the two naive patterns under the same fault schedule,
and writes chaos-results/report.md, report.json and timeline.png. The kit runs a 1-second tick
and a ``max_instances=1`` job that runs longer than its period (tests/jobsets/chaos_jobs.py);
the report gives, per job, its fires run once, more than once and missed, and the most
instances of it that ran at once. Exits 1 if the kit ran any fire more than once, ran more
instances of a job at once than its max_instances, or missed a tick without saying so in its
log. ``--sentinel`` puts
the Redis behind Sentinel (a master, two replicas, three sentinels) and adds a Sentinel
failover to the faults. The kit's hosts run with their clocks off Redis's by
``--clock-offsets`` seconds (one beyond SCHEDULER_MAX_CLOCK_OFFSET, so it must never lead).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "jobsets")]

from chaos_jobs import jobs as KIT_JOBS  # noqa: E402
from redis_support import RedisServer, Sentinels  # noqa: E402
from support import Host, alive, pids_with_marker, read_fires, reported_seconds, wait_for  # noqa: E402

from scheduler_proc.coordination.redis.keys import Keys  # noqa: E402
from scheduler_proc.jobs import JobSpec  # noqa: E402

TTL = 2.0
#: The long job's run time: longer than its 5 s period, so a fire of it waits while one runs.
LONG_SECONDS = 9.0
#: The faults of issue 22 that every kit run goes through once (where the Redis setup has them).
REQUIRED = ("redis_stall_long_run", "redis_restart_long_run", "unreadable_keys")


@dataclass
class Fault:
    """One injected fault and the recovery it caused (first fire after it, in seconds)."""

    at: float
    kind: str
    target: str
    recovery: float | None = None
    #: unreadable_keys only: seconds to the kit's next 'leading the cluster' line (log time, whole seconds).
    leader_again: float | None = None


@dataclass
class JobOutcome:
    """One job's fires in one pattern's run, and the most instances of it that ran at once."""

    job: str
    max_instances: int
    expected: int
    once: int
    more_than_once: int
    missed: int
    max_at_once: int | None  # None: the pattern records a run once (no start and end)
    duplicates: list[str] = field(default_factory=list)
    missed_seconds: list[int] = field(default_factory=list)
    missed_reported: int = 0  # missed fires the kit's log names as missed or skipped
    missed_unreported: list[str] = field(default_factory=list)
    over_max: list[str] = field(default_factory=list)  # runs that started with max_instances running
    refused_at_start: int = 0  # claimed fires the kit refused right before they started (WARNING 'fire skipped')


@dataclass
class Outcome:
    pattern: str
    jobs: list[JobOutcome]
    faults: list[Fault] = field(default_factory=list)
    unreadable_logged: dict[str, int] = field(default_factory=dict)  # lines naming each garbled key

    def job(self, job_id: str) -> JobOutcome:
        return next(job for job in self.jobs if job.job == job_id)

    def failures(self) -> list[str]:
        """Why this run breaks the kit's promises ('' none): doubles, excess instances, unlogged tick misses."""
        found = [f"{j.job}: {j.more_than_once} fire(s) run more than once" for j in self.jobs if j.more_than_once]
        found += [
            f"{j.job}: {j.max_at_once} instances at once, max_instances={j.max_instances}"
            for j in self.jobs
            if j.max_at_once is not None and j.max_at_once > j.max_instances
        ]
        # A max_instances job's fires that waited are coalesced without a line each: only the tick counts.
        tick = self.job("tick")
        if tick.missed_unreported:
            found.append(f"tick: {len(tick.missed_unreported)} fire(s) missed without a log line")
        return found


Run = tuple[str, str, int]  # (job, scheduled_at, pid): one run, as its start and end records name it


def _run_of(record: dict[str, Any]) -> Run:
    return record["job"], record["scheduled_at"], record["pid"]


class RunWatch:
    """Notes when the process of a run with no end record is gone: the run had ended by then.

    A kill -9 of a runner or a master ends its runs without an end record; they would otherwise
    count as running until the end of the chaos run. Polled every 0.2 s: an end it notes is late
    by up to that, which can only add instances at once, never hide one.
    """

    def __init__(self, fire_log: Path) -> None:
        self._log = fire_log
        self._offset = 0
        self._open: set[Run] = set()
        self.gone: dict[Run, float] = {}
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> RunWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stopped.wait(0.2):
            self._read_new()
            now = time.time()
            for run in [run for run in self._open if not alive(run[2])]:
                self._open.discard(run)
                self.gone[run] = now

    def _read_new(self) -> None:
        if not self._log.exists():
            return
        with open(self._log, "rb") as log:
            log.seek(self._offset)
            data = log.read()
        complete = data[: data.rfind(b"\n") + 1]  # a line being written is read next time
        self._offset += len(complete)
        for line in complete.decode().splitlines():
            record = json.loads(line)
            if record.get("event") == "start":
                self._open.add(_run_of(record))
            elif record.get("event") == "end":
                self._open.discard(_run_of(record))


class Redis:
    """The Redis under test: one server, or with ``sentinel`` a master, two replicas and three sentinels."""

    def __init__(self, workdir: Path, sentinel: bool) -> None:
        self.workdir = workdir
        self.servers = [RedisServer(workdir / "redis").start()]
        self.sentinels: Sentinels | None = None
        if sentinel:
            self.servers += [
                RedisServer(workdir / f"replica-{i}", replica_of=self.servers[0].port).start() for i in range(2)
            ]
            self.sentinels = Sentinels(workdir / "sentinels", self.servers[0].port).start()

    def describe(self) -> str:
        if self.sentinels is None:
            return "one real Redis"
        return "Redis behind Sentinel (a master, two replicas, three sentinels; SCHEDULER_REDIS_MIN_REPLICAS=1)"

    def kit_env(self) -> dict[str, str]:
        if self.sentinels is None:
            return {"SCHEDULER_REDIS_URL": self.master().url}
        return {
            "SCHEDULER_REDIS_SENTINELS": self.sentinels.spec,
            "SCHEDULER_REDIS_SENTINEL_MASTER": self.sentinels.name,
            "SCHEDULER_REDIS_MIN_REPLICAS": "1",
        }

    def master(self) -> RedisServer:
        """The server that is master now (Sentinel's answer, when there are sentinels)."""
        if self.sentinels is None:
            return self.servers[0]
        port = wait_for(self.sentinels.master_port_now, 30, "Sentinel to name a master")
        return next(server for server in self.servers if server.port == port)

    def restart_empty(self) -> None:
        self.master().restart_empty()

    def pause(self, seconds: float = TTL * 1.5) -> None:
        master = self.master()
        master.signal(signal.SIGSTOP)
        time.sleep(seconds)  # the fault is the pause itself (Sentinel may fail over meanwhile)
        master.signal(signal.SIGCONT)

    def restart_from_snapshot(self) -> None:
        """Redis comes back with data a few seconds old (an RDB reload, an AOF that lost its tail)."""
        master = self.master()
        master.snapshot()
        time.sleep(3)  # claims made now are the ones the restart forgets
        master.restart_from_snapshot()

    def failover(self) -> str:
        """kill -9 the master; once Sentinel promoted a replica, start it again as the new master's replica."""
        sentinels = self.sentinels
        assert sentinels is not None
        old = self.master()
        old.kill()
        wait_for(lambda: sentinels.master_port_now() not in (None, old.port), 30, "the Sentinel failover")
        old.replica_of = self.master().port
        old.start()
        return f"redis :{old.port}"

    def kill(self) -> None:
        if self.sentinels is not None:
            self.sentinels.kill()
        for server in self.servers:
            server.kill()


class Cluster:
    """N hosts of one pattern: 'kit' (cluster mode), 'naive' or 'naive-lock' (scheduler in every worker)."""

    def __init__(
        self, workdir: Path, redis: Redis, pattern: str, nodes: int, workers: int, offsets: list[float]
    ) -> None:
        self.pattern = pattern
        self.redis = redis
        self.keys = Keys(f"chaos-{pattern}")
        self.hosts: list[Host] = []
        self.master: dict[str, int] = {}
        for i in range(nodes):
            env = {
                **redis.kit_env(),
                "SCHEDULER_LEASE_TTL": str(TTL),
                "SCHEDULER_NAMESPACE": self.keys.namespace,
                "GRACEFUL_TIMEOUT": "5",
                "SCHEDULER_TEST_CLOCK_OFFSET": str(offsets[i % len(offsets)]),
                "LONG_SECONDS": str(LONG_SECONDS),
            }
            extra: list[str] = []
            if pattern != "kit":  # the naive app knows one Redis address, as such apps usually do
                lock = "1" if pattern == "naive-lock" else "0"
                env.update({"NAIVE_LOCK": lock, "NAIVE_REDIS_URL": redis.master().url})
                extra = []
            host = Host(workdir / pattern, f"node-{i}", "chaos_jobs:jobs", env=env, workers=workers, extra_args=extra)
            if pattern != "kit":
                host.command = [
                    str(Path(sys.executable).parent / "gunicorn"),
                    "-c",
                    str(ROOT / "bench/naive.conf.py"),
                    "-p",
                    str(host.pidfile),
                ]
            self.hosts.append(host)

    @property
    def fire_log(self) -> Path:
        return self.hosts[0].fire_log

    def start(self) -> None:
        for host in self.hosts:
            self._start(host)
        for host in self.hosts:
            self._wait_up(host)

    def _start(self, host: Host) -> None:
        host.start()
        assert host.process is not None
        self.master[host.name] = host.process.pid

    def _wait_up(self, host: Host) -> None:
        wait_for(lambda: (host.status() or {}).get("role") in ("leader", "standby"), 30, f"{host.name} up")

    def leader(self) -> Host:
        if self.pattern == "kit":
            for host in self.hosts:
                if (host.status() or {}).get("role") == "leader":
                    return host
        return self.hosts[0]

    def signal_master(self, host: Host, sig: int) -> None:
        os.kill(self.master[host.name], sig)

    def restart(self, host: Host) -> None:
        """What systemd does after the main process died: kill the rest of the cgroup, start again.

        Like systemd, start only once the old master is reaped: gunicorn refuses to start
        while its pidfile names a pid that exists, and an unreaped zombie does. A master from
        a USR2 upgrade is not our child, so init reaps it (here about a second later).
        """
        old_master = self.master[host.name]
        host.kill_everything()
        wait_for(lambda: not Path(f"/proc/{old_master}").exists(), 30, f"{host.name}'s old master to be reaped")
        self._start(host)
        self._wait_up(host)

    def scheduler_pid(self, host: Host, rng: random.Random) -> int | None:
        if self.pattern == "kit":
            runners = host.runner_pids()
            return runners[0] if runners else None
        workers = [pid for pid in pids_with_marker(host.marker) if pid != self.master[host.name]]
        return rng.choice(workers) if workers else None

    def stop(self) -> None:
        for host in self.hosts:
            host.kill_everything()


def _kill9_scheduler(cluster: Cluster, host: Host, rng: random.Random) -> str:
    pid = cluster.scheduler_pid(host, rng)
    if pid:
        os.kill(pid, signal.SIGKILL)
    return f"{host.name} pid {pid}"


def _kill9_master(cluster: Cluster, host: Host, rng: random.Random) -> str:
    cluster.signal_master(host, signal.SIGKILL)
    cluster.restart(host)
    return host.name


def _sigstop_leader(cluster: Cluster, host: Host, rng: random.Random) -> str:
    pid = cluster.scheduler_pid(host, rng)
    if pid:
        os.kill(pid, signal.SIGSTOP)
        time.sleep(TTL * 2.5)  # the fault is the pause itself
        os.kill(pid, signal.SIGCONT)
    return f"{host.name} pid {pid}"


def _term(cluster: Cluster, host: Host, rng: random.Random) -> str:
    cluster.signal_master(host, signal.SIGTERM)
    wait_for(lambda: not pids_with_marker(host.marker), 30, f"{host.name} to stop")
    cluster.restart(host)
    return host.name


def _hup(cluster: Cluster, host: Host, rng: random.Random) -> str:
    cluster.signal_master(host, signal.SIGHUP)
    return host.name


def _usr2(cluster: Cluster, host: Host, rng: random.Random) -> str:
    new_pidfile = host.pidfile.with_name(host.pidfile.name + ".2")
    new_pidfile.unlink(missing_ok=True)
    cluster.signal_master(host, signal.SIGUSR2)
    wait_for(lambda: new_pidfile.exists() and new_pidfile.read_text().strip(), 20, "the upgraded master")
    new_pid = int(new_pidfile.read_text())
    cluster.signal_master(host, signal.SIGTERM)
    cluster.master[host.name] = new_pid
    return host.name


def _redis_restart(cluster: Cluster, host: Host, rng: random.Random) -> str:
    cluster.redis.restart_empty()
    return "redis"


def _redis_pause(cluster: Cluster, host: Host, rng: random.Random) -> str:
    cluster.redis.pause()
    return "redis"


def _redis_stall(cluster: Cluster, host: Host, rng: random.Random) -> str:
    # Longer than the socket timeout (TTL/4), shorter than the lease: claims time out after Redis ran them.
    cluster.redis.pause(TTL / 2)
    return "redis"


def _long_run(cluster: Cluster, since: float, until: float) -> str:
    """Wait (up to 20 s) for a run of the long job that has gone on ``since`` to ``until`` s; says which.

    Past 5 s (its period) a fire of the job is due while it runs: that fire waits for it.
    """

    def found() -> str | None:
        fires = read_fires(cluster.fire_log)
        ended = {_run_of(f) for f in fires if f.get("event") == "end"}
        for f in _starts(fires, "long"):
            ran = time.time() - f["started"]
            if since <= ran <= until and _run_of(f) not in ended and alive(f["pid"]):
                return f"while long {f['scheduled_at'][11:19]} ran {ran:.1f}s on {f['node']}"
        return None

    if cluster.pattern != "kit":
        return "no long job"
    try:
        return wait_for(found, 20, "a run of the long job", interval=0.2)
    except AssertionError:
        return "no long run found in 20 s"


def _redis_stall_long_run(cluster: Cluster, host: Host, rng: random.Random) -> str:
    # Past the lease TTL, while a max_instances=1 run goes on with a fire waiting: the leader
    # steps down, leads again under a new term, and must not start the waiting fire beside it;
    # the run goes on for a moment after Redis answers again.
    run = _long_run(cluster, since=5.2, until=5.7)
    cluster.redis.pause(TTL * 1.5)
    return f"redis ({run})"


def _redis_restart_long_run(cluster: Cluster, host: Host, rng: random.Random) -> str:
    # The run's running marker is lost with the data; the next renewal must write it again.
    run = _long_run(cluster, since=1.0, until=4.0)
    cluster.redis.restart_empty()
    return f"redis ({run})"


def _unreadable_keys(cluster: Cluster, host: Host, rng: random.Random) -> str:
    """Garbage in three of the namespace's keys: the kit heals them and logs each once."""
    client = cluster.redis.master().client()
    for key, value in _garbage(cluster.keys).items():
        client.set(key, value)  # no TTL: the lease's too
    return ", ".join(_garbage(cluster.keys))


def _garbage(keys: Keys) -> dict[str, str]:
    """A lease that is no token, a command cursor that is no stream id, a term counter that is no number."""
    return {keys.leader: "garbage", keys.commands_cursor: "garbage", keys.fence: "x"}


def _redis_snapshot_restore(cluster: Cluster, host: Host, rng: random.Random) -> str:
    cluster.redis.restart_from_snapshot()
    return "redis"


def _sentinel_failover(cluster: Cluster, host: Host, rng: random.Random) -> str:
    return cluster.redis.failover()


Inject = Callable[[Cluster, Host, random.Random], str]
FAULTS: dict[str, Inject] = {
    "kill9_scheduler": _kill9_scheduler,
    "kill9_master": _kill9_master,
    "sigstop_leader": _sigstop_leader,
    "term": _term,
    "hup": _hup,
    "usr2": _usr2,
    "redis_pause": _redis_pause,
    "redis_stall": _redis_stall,
    "redis_stall_long_run": _redis_stall_long_run,
    "unreadable_keys": _unreadable_keys,
}
#: Restarting a Sentinel-watched master empty would wipe its replicas too (a misconfiguration
#: Redis documents), so with Sentinel the Redis fault is a failover instead.
SINGLE_REDIS_FAULTS: dict[str, Inject] = {
    "redis_restart": _redis_restart,
    "redis_snapshot_restore": _redis_snapshot_restore,
    "redis_restart_long_run": _redis_restart_long_run,
}
SENTINEL_FAULTS: dict[str, Inject] = {"sentinel_failover": _sentinel_failover}


def faults(sentinel: bool) -> dict[str, Inject]:
    return {**FAULTS, **(SENTINEL_FAULTS if sentinel else SINGLE_REDIS_FAULTS)}


def inject(cluster: Cluster, kind: str, rng: random.Random) -> str:
    """Carry out one fault; returns what it hit."""
    host = cluster.leader() if kind in ("sigstop_leader", "kill9_scheduler") else rng.choice(cluster.hosts)
    return faults(cluster.redis.sentinels is not None)[kind](cluster, host, rng)


def run_pattern(
    workdir: Path, redis: Redis, pattern: str, args: argparse.Namespace, schedule: list[tuple[float, str]]
) -> Outcome:
    offsets = args.clock_offsets if pattern == "kit" else [0.0]
    cluster = Cluster(workdir, redis, pattern, args.nodes, args.workers, offsets)
    print(f"chaos: {pattern}: starting {args.nodes} masters x {args.workers} workers", flush=True)
    with RunWatch(cluster.fire_log) as watch:
        try:
            started, ended, faults = _drive(cluster, schedule, args, random.Random(args.seed))
        finally:
            cluster.stop()
    specs = [spec for spec in KIT_JOBS if pattern == "kit" or spec.id == "tick"]  # the naive app runs a tick
    fires = read_fires(cluster.fire_log)
    jobs = [analyse_job(spec, fires, (started + 3, ended - 2, ended), watch.gone, faults) for spec in specs]
    for fault in faults:
        after = [f["started"] for f in _starts(fires, "tick") if f["started"] > fault.at]
        fault.recovery = round(min(after) - fault.at, 3) if after else None
    outcome = Outcome(pattern, jobs, faults)
    if pattern == "kit":
        _read_kit_log(outcome, cluster)
    return outcome


def _drive(
    cluster: Cluster, schedule: list[tuple[float, str]], args: argparse.Namespace, rng: random.Random
) -> tuple[float, float, list[Fault]]:
    """Start the cluster and inject the schedule's faults; (started, ended, the faults as injected)."""
    faults: list[Fault] = []
    cluster.start()
    started = time.time()
    for offset, kind in schedule:
        wait_for(lambda o=offset: time.time() - started >= o, offset + 60, "the next fault")
        fault = Fault(time.time(), kind, "")
        fault.target = inject(cluster, kind, rng)
        faults.append(fault)
        print(f"chaos: {cluster.pattern}: t+{fault.at - started:5.1f}s {kind} -> {fault.target}", flush=True)
    wait_for(lambda: time.time() - started >= schedule[-1][0] + args.settle, args.settle + 60, "the end")
    return started, time.time(), faults


def _read_kit_log(outcome: Outcome, cluster: Cluster) -> None:
    """Which missed fires the kit's log names, and how often it named each garbled key."""
    log = "".join(host.output() for host in cluster.hosts)
    for job in outcome.jobs:
        reported = reported_seconds(log, job.job)
        job.missed_reported = sum(1 for s in job.missed_seconds if s in reported)
        job.missed_unreported = [_iso(s) for s in job.missed_seconds if s not in reported]
        job.refused_at_start = len(re.findall(rf"fire skipped job={re.escape(job.job)} ", log))
    if any(fault.kind == "unreadable_keys" for fault in outcome.faults):
        outcome.unreadable_logged = {key: log.count(f"Redis key {key} holds") for key in _garbage(cluster.keys)}
    led = sorted(datetime.strptime(at, "%Y-%m-%d %H:%M:%S %z").timestamp() for at in _LEADING.findall(log))
    for fault in outcome.faults:
        later = [at for at in led if at >= math.floor(fault.at)]
        if fault.kind == "unreadable_keys" and later:
            fault.leader_again = round(later[0] - fault.at, 1)


_LEADING = re.compile(r"^\[([-\d]+ [:\d]+ [-+]\d{4})\] .* leading the cluster as node ", re.MULTILINE)


def _iso(second: int) -> str:
    return datetime.fromtimestamp(second, tz=UTC).isoformat()


def _starts(fires: list[dict[str, Any]], job: str) -> list[dict[str, Any]]:
    """The runs of ``job``: its start records (a record with no event, as the naive app writes, is both)."""
    return [f for f in fires if f["job"] == job and f.get("event", "start") == "start"]


def analyse_job(
    spec: JobSpec,
    fires: list[dict[str, Any]],
    window: tuple[float, float, float],
    gone: dict[Run, float],
    faults: list[Fault],
) -> JobOutcome:
    """``spec``'s fires due in [start, end), and its runs at once over the whole run (which ended at ``last``)."""
    start, end, last = window
    starts = _starts(fires, spec.id)
    seconds = Counter(int(datetime.fromisoformat(f["scheduled_at"]).timestamp()) for f in starts)
    upcoming = spec.upcoming(datetime.fromtimestamp(start, tz=UTC), math.ceil(end - start) + 1)
    expected = [int(at.timestamp()) for at in upcoming if at.timestamp() < end]
    doubled = [s for s in expected if seconds[s] > 1]
    missed = [s for s in expected if seconds[s] == 0]
    most, over = instances_at_once(starts, _ends(fires, spec.id, gone, last), spec.max_instances, faults)
    timed = any("event" in f for f in starts)
    return JobOutcome(
        spec.id,
        spec.max_instances,
        len(expected),
        sum(1 for s in expected if seconds[s] == 1),
        len(doubled),
        len(missed),
        most if timed else None,
        [_iso(s) for s in doubled],
        missed,
        over_max=over,
    )


def _ends(fires: list[dict[str, Any]], job: str, gone: dict[Run, float], last: float) -> dict[Run, float]:
    """When each run of ``job`` ended: its end record; else when its process was seen gone; else ``last``."""
    ends = {_run_of(f): f["started"] for f in fires if f["job"] == job and f.get("event") == "end"}
    for f in _starts(fires, job):
        run = _run_of(f)
        if "event" not in f:
            ends[run] = f["started"]  # recorded once: a run of no length
        elif run not in ends:
            ends[run] = gone.get(run, last)
    return ends


def instances_at_once(
    starts: list[dict[str, Any]], ends: dict[Run, float], limit: int, faults: list[Fault]
) -> tuple[int, list[str]]:
    """The most runs going at one time, and each run that started while ``limit`` others went on."""
    running: list[tuple[float, dict[str, Any]]] = []  # (end, start record) of the runs going on
    most, over = 0, []
    for record in sorted(starts, key=lambda f: f["started"]):
        running = [(end, other) for end, other in running if end > record["started"]]
        if len(running) >= limit:
            others = ", ".join(f"{o['node']} pid {o['pid']} ({o['scheduled_at'][11:19]})" for _, o in running)
            before = [f for f in faults if f.at <= record["started"]]
            after = f", {record['started'] - before[-1].at:.1f}s after {before[-1].kind}" if before else ""
            over.append(f"{record['scheduled_at']} on {record['node']} pid {record['pid']} beside {others}{after}")
        running.append((ends[_run_of(record)], record))
        most = max(most, len(running))
    return most, over


def fault_schedule(
    args: argparse.Namespace, duration: float, required: tuple[str, ...] = ()
) -> list[tuple[float, str]]:
    """(seconds from the start, fault kind), all from the seed; each ``required`` fault once, at a seeded slot."""
    rng = random.Random(args.seed)
    times, at = [], 8.0
    while at < duration - args.settle:
        times.append(round(at, 1))
        at += rng.uniform(args.every * 0.5, args.every * 1.5)
    pool = sorted(faults(args.sentinel))
    musts = [kind for kind in required if kind in pool][: len(times)]
    slots = dict(zip(rng.sample(range(len(times)), len(musts)), musts, strict=True))
    return [(at, slots[i] if i in slots else rng.choice(pool)) for i, at in enumerate(times)]


def write_report(
    outcomes: list[Outcome], args: argparse.Namespace, directory: Path, fire_logs: dict[str, Path], redis: str
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(
        json.dumps(
            {
                "seed": args.seed,
                "nodes": args.nodes,
                "workers": args.workers,
                "lease_ttl": TTL,
                "redis": redis,
                "outcomes": [asdict(o) for o in outcomes],
            },
            indent=2,
        )
    )
    lines = [
        f"# Chaos report (seed {args.seed})",
        "",
        f"{args.nodes} gunicorn masters x {args.workers} workers, {redis}, lease TTL {TTL:g} s. The kit runs a "
        f"1-second tick and `long`, due every 5 s, running {LONG_SECONDS:g} s, max_instances=1 (the naive "
        "patterns: the tick).",
        "",
        f"The kit's hosts' clocks are off Redis's by {', '.join(f'{o:+g}' for o in args.clock_offsets)} s.",
        "",
        "Instances at once: from each run's start and end records across all nodes; a run with no end "
        "record ends when its process was seen gone (polled every 0.2 s), else at the end of the run. "
        "`long`'s missed fires include those that waited for a run and were coalesced (not logged one by one).",
        "",
        *table(outcomes),
    ]
    for outcome in outcomes:
        lines += [
            "",
            f"## {outcome.pattern}: faults",
            "",
            "| t | fault | target | first tick after (s) | a leader again after (s, whole log seconds) |",
            "|---|---|---|---|---|",
        ]
        t0 = outcome.faults[0].at if outcome.faults else 0
        for f in outcome.faults:
            leader = "" if f.leader_again is None else f.leader_again
            lines.append(f"| +{f.at - t0:.1f}s | {f.kind} | {f.target} | {f.recovery} | {leader} |")
        for job in outcome.jobs:
            if job.duplicates:
                lines += ["", f"{job.job}: fires run more than once: {', '.join(job.duplicates[:20])}"]
            if job.missed_unreported and job.job == "tick":
                lines += ["", f"{job.job}: fires missed without a log line: {', '.join(job.missed_unreported[:20])}"]
            if job.over_max:
                lines += ["", f"{job.job}: runs started over max_instances: {'; '.join(job.over_max[:20])}"]
        if outcome.unreadable_logged:
            logged = ", ".join(f"{key}: {count}" for key, count in outcome.unreadable_logged.items())
            lines += ["", f"Log lines naming each garbled key (all nodes and processes): {logged}"]
    lines += ["", "![timeline](timeline.png)"]
    (directory / "report.md").write_text("\n".join(lines) + "\n")
    plot(outcomes, fire_logs, directory / "timeline.png")


def table(outcomes: list[Outcome]) -> list[str]:
    """The summary table: one row per pattern and job."""
    lines = [
        "| pattern | job | fires expected | run once | run more than once | missed | of those, named in the kit's log "
        "| most instances at once (max_instances) | claimed, refused at start |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        for j in o.jobs:
            named = str(j.missed_reported) if o.pattern == "kit" else "n/a"
            most = "n/a (one record per run)" if j.max_at_once is None else str(j.max_at_once)
            refused = str(j.refused_at_start) if o.pattern == "kit" else "n/a"
            lines.append(
                f"| {o.pattern} | {j.job} | {j.expected} | {j.once} | {j.more_than_once} | {j.missed} | {named} "
                f"| {most} ({j.max_instances}) | {refused} |"
            )
    return lines


def plot(outcomes: list[Outcome], fire_logs: dict[str, Path], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(outcomes), 1, figsize=(14, 3.2 * len(outcomes)), squeeze=False)
    for axis, outcome in zip(axes[:, 0], outcomes, strict=True):
        fires = _starts(read_fires(fire_logs[outcome.pattern]), "tick")
        tick = outcome.job("tick")
        if not fires:
            continue
        t0 = min(f["started"] for f in fires)
        counts = Counter(f["scheduled_at"] for f in fires)
        nodes = sorted({f["node"] for f in fires})
        for fire in fires:
            doubled = counts[fire["scheduled_at"]] > 1
            axis.scatter(
                datetime.fromisoformat(fire["scheduled_at"]).timestamp() - t0,
                nodes.index(fire["node"]),
                s=14,
                c="red" if doubled else "tab:green",
                marker="x" if doubled else "o",
            )
        for fault in outcome.faults:
            axis.axvline(fault.at - t0, color="gray", linestyle="--", linewidth=0.8)
            axis.text(fault.at - t0, len(nodes) - 0.4, fault.kind, rotation=90, fontsize=7, va="top")
        axis.set_yticks(range(len(nodes)), nodes)
        axis.set_ylim(-0.5, len(nodes) + 0.6)
        axis.set_title(
            f"{outcome.pattern}: tick {tick.once} once, {tick.more_than_once} more than once "
            f"(red), {tick.missed} missed"
        )
        axis.set_xlabel("seconds since the first fire")
    figure.tight_layout()
    figure.savefig(path, dpi=90)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=120, help="seconds of faults for the kit (default 120)")
    parser.add_argument("--naive-duration", type=float, default=40, help="seconds for each naive pattern")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--every", type=float, default=10, help="mean seconds between faults")
    parser.add_argument("--settle", type=float, default=12, help="seconds without faults at the end")
    parser.add_argument("--sentinel", action="store_true", help="Redis behind Sentinel, with failovers")
    parser.add_argument(
        "--clock-offsets",
        type=lambda raw: [float(part) for part in raw.split(",")],
        default=[0.0, 0.6, 3.0],
        help="seconds each kit host's clock is off Redis's, in turn (default 0,0.6,3: the last never leads)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "chaos-results")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="chaos-"))
    redis = Redis(workdir, args.sentinel)
    outcomes, logs = [], {}
    try:
        kit_schedule = fault_schedule(args, args.duration, REQUIRED)
        naive_schedule = [(at, kind) for at, kind in fault_schedule(args, args.naive_duration)]
        for pattern, schedule in (("kit", kit_schedule), ("naive", naive_schedule), ("naive-lock", naive_schedule)):
            outcome = run_pattern(workdir, redis, pattern, args, schedule)
            outcomes.append(outcome)
            logs[pattern] = workdir / pattern / "fires.jsonl"
            for job in outcome.jobs:
                print(
                    f"chaos: {pattern}: {job.job}: {job.once} once, {job.more_than_once} more than once, "
                    f"{job.missed} missed of {job.expected}; at most {job.max_at_once} at once (None: not recorded)",
                    flush=True,
                )
    finally:
        redis.kill()
    write_report(outcomes, args, args.out, logs, redis.describe())
    print("\n".join(table(outcomes)))
    print(f"chaos: report in {args.out / 'report.md'}")
    failures = outcomes[0].failures()
    for failure in failures:
        print(f"chaos: the kit failed: {failure}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
