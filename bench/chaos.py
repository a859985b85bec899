"""make chaos: random, seeded faults against N real gunicorn masters on one real Redis, one real PostgreSQL or both.

Runs the kit in cluster mode on each store ``--backend`` names (Redis, PostgreSQL or both, one
after the other, each for ``--duration``), then, where Redis is among them, the two naive
patterns under the same fault schedule, and writes chaos-results/report.md, report.json and
timeline.png with the stores side by side. The kit runs a 1-second tick
and a ``max_instances=1`` job that runs longer than its period (tests/jobsets/chaos_jobs.py);
the report gives, per job, its fires run once, more than once and missed, and the most
instances of it that ran at once. Exits 1 if the kit ran any fire more than once, ran more
instances of a job at once than its max_instances, or missed a tick without saying so in its
log. ``--sentinel`` puts
the Redis behind Sentinel (a master, two replicas, three sentinels) and adds a Sentinel
failover to the faults (PostgreSQL has no such fault: a run on it is refused). The kit's hosts
run with their clocks off the store's by ``--clock-offsets`` seconds (one beyond
SCHEDULER_MAX_CLOCK_OFFSET, so it must never lead).
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
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "jobsets")]

from bench_stores import BACKENDS, Postgres, Redis, Store, add_backend_option, chosen, open_store  # noqa: E402
from chaos_jobs import jobs as KIT_JOBS  # noqa: E402
from support import Host, alive, pids_with_marker, read_fires, reported_seconds, wait_for  # noqa: E402

from scheduler_proc.coordination.redis.keys import Keys  # noqa: E402
from scheduler_proc.jobs import JobSpec  # noqa: E402

TTL = 2.0
#: The long job's run time: longer than its 5 s period, so a fire of it waits while one runs.
LONG_SECONDS = 9.0
#: The faults every kit run goes through once (where the store's setup has them): issue 22's on
#: Redis; on PostgreSQL their mirrors, the cut connections and the snapshot restore of issue 26.
REQUIRED = {
    "redis": ("redis_stall_long_run", "redis_restart_long_run", "unreadable_keys"),
    "postgres": (
        "postgres_stall_long_run",
        "postgres_restart_long_run",
        "postgres_terminate_backends",
        "postgres_snapshot_restore",
    ),
}


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
    store: str = BACKENDS["redis"]  # the label of the store the hosts coordinated through

    @property
    def title(self) -> str:
        """Which pattern on which store: ``kit on PostgreSQL``."""
        return f"{self.pattern} on {self.store}"

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


#: (job, scheduled_at, pid, term): one run, as its start and end records name it. The term tells
#: apart two runs of one fire in one process (a fire run twice, by the same runner under two terms).
Run = tuple[str, str, int, int | None]


def _run_of(record: dict[str, Any]) -> Run:
    return record["job"], record["scheduled_at"], record["pid"], record.get("term")


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


class Cluster:
    """N hosts of one pattern: 'kit' (cluster mode), 'naive' or 'naive-lock' (scheduler in every worker)."""

    def __init__(
        self, workdir: Path, store: Store, pattern: str, nodes: int, workers: int, offsets: list[float]
    ) -> None:
        self.pattern = pattern
        self.store = store
        self.keys = Keys(f"chaos-{pattern}")
        self.hosts: list[Host] = []
        self.master: dict[str, int] = {}
        for i in range(nodes):
            env = {
                **store.kit_env(),
                "SCHEDULER_LEASE_TTL": str(TTL),
                "SCHEDULER_NAMESPACE": self.keys.namespace,
                "GRACEFUL_TIMEOUT": "5",
                "SCHEDULER_TEST_CLOCK_OFFSET": str(offsets[i % len(offsets)]),
                "LONG_SECONDS": str(LONG_SECONDS),
            }
            extra: list[str] = []
            if pattern != "kit":  # the naive app knows one Redis address, as such apps usually do
                lock = "1" if pattern == "naive-lock" else "0"
                env.update({"NAIVE_LOCK": lock, "NAIVE_REDIS_URL": cluster_redis(store).master().url})
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


def cluster_redis(store: Store) -> Redis:
    """``store`` as the Redis it must be (the naive patterns and Redis's own faults need one)."""
    if not isinstance(store, Redis):
        raise TypeError(f"this needs Redis, not {store.label}")
    return store


def cluster_postgres(store: Store) -> Postgres:
    """``store`` as the PostgreSQL it must be (PostgreSQL's own faults)."""
    if not isinstance(store, Postgres):
        raise TypeError(f"this needs PostgreSQL, not {store.label}")
    return store


def _store_pause(cluster: Cluster, host: Host, rng: random.Random) -> str:
    # Longer than the lease: the leader steps down; the store's clock judges the lease.
    cluster.store.pause(TTL * 1.5)
    return cluster.store.backend


def _store_stall(cluster: Cluster, host: Host, rng: random.Random) -> str:
    # Longer than the socket timeout (TTL/4), shorter than the lease: claims time out after the store ran them.
    cluster.store.pause(TTL / 2)
    return cluster.store.backend


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


def _store_stall_long_run(cluster: Cluster, host: Host, rng: random.Random) -> str:
    # Past the lease TTL, while a max_instances=1 run goes on with a fire waiting: the leader
    # steps down, leads again under a new term, and must not start the waiting fire beside it;
    # the run goes on for a moment after the store answers again.
    run = _long_run(cluster, since=5.2, until=5.7)
    cluster.store.pause(TTL * 1.5)
    return f"{cluster.store.backend} ({run})"


def _redis_restart(cluster: Cluster, host: Host, rng: random.Random) -> str:
    cluster_redis(cluster.store).restart_empty()
    return "redis"


def _redis_restart_long_run(cluster: Cluster, host: Host, rng: random.Random) -> str:
    # The run's running marker is lost with the data; the next renewal must write it again.
    run = _long_run(cluster, since=1.0, until=4.0)
    cluster_redis(cluster.store).restart_empty()
    return f"redis ({run})"


def _unreadable_keys(cluster: Cluster, host: Host, rng: random.Random) -> str:
    """Garbage in three of the namespace's keys: the kit heals them and logs each once."""
    client = cluster_redis(cluster.store).master().client()
    for key, value in _garbage(cluster.keys).items():
        client.set(key, value)  # no TTL: the lease's too
    return ", ".join(_garbage(cluster.keys))


def _garbage(keys: Keys) -> dict[str, str]:
    """A lease that is no token, a command cursor that is no stream id, a term counter that is no number."""
    return {keys.leader: "garbage", keys.commands_cursor: "garbage", keys.fence: "x"}


def _redis_snapshot_restore(cluster: Cluster, host: Host, rng: random.Random) -> str:
    cluster_redis(cluster.store).restart_from_snapshot()
    return "redis"


def _sentinel_failover(cluster: Cluster, host: Host, rng: random.Random) -> str:
    return cluster_redis(cluster.store).failover()


def _postgres_restart(cluster: Cluster, host: Host, rng: random.Random) -> str:
    # A fast shutdown and a start: every connection cut, the data kept.
    cluster_postgres(cluster.store).restart()
    return "postgres"


def _postgres_restart_long_run(cluster: Cluster, host: Host, rng: random.Random) -> str:
    # A crash (immediate shutdown, recovery on start) while a run goes on: its running marker
    # must be there again, or written again, before any node could start another instance.
    run = _long_run(cluster, since=1.0, until=4.0)
    cluster_postgres(cluster.store).crash_restart()
    return f"postgres ({run})"


def _postgres_terminate_backends(cluster: Cluster, host: Host, rng: random.Random) -> str:
    # pg_terminate_backend of every connection of the kit: the leader's, the standbys', the LISTENs.
    cut = cluster_postgres(cluster.store).terminate_kit_connections()
    return f"postgres ({cut} connections)"


def _postgres_snapshot_restore(cluster: Cluster, host: Host, rng: random.Random) -> str:
    stopped = cluster_postgres(cluster.store).restart_from_snapshot()
    return f"postgres (stopped {stopped:.1f}s for the copy)"


Inject = Callable[[Cluster, Host, random.Random], str]
FAULTS: dict[str, Inject] = {
    "kill9_scheduler": _kill9_scheduler,
    "kill9_master": _kill9_master,
    "sigstop_leader": _sigstop_leader,
    "term": _term,
    "hup": _hup,
    "usr2": _usr2,
}
REDIS_FAULTS: dict[str, Inject] = {
    "redis_pause": _store_pause,
    "redis_stall": _store_stall,
    "redis_stall_long_run": _store_stall_long_run,
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
#: PostgreSQL's mirrors of Redis's faults: a pause past the lease, a stall past the socket timeout,
#: restarts (data kept), a restore of older data; and the connections cut by pg_terminate_backend.
POSTGRES_FAULTS: dict[str, Inject] = {
    "postgres_pause": _store_pause,
    "postgres_stall": _store_stall,
    "postgres_stall_long_run": _store_stall_long_run,
    "postgres_restart": _postgres_restart,
    "postgres_restart_long_run": _postgres_restart_long_run,
    "postgres_terminate_backends": _postgres_terminate_backends,
    "postgres_snapshot_restore": _postgres_snapshot_restore,
}


def faults(backend: str, sentinel: bool) -> dict[str, Inject]:
    """Every fault a kit on ``backend`` can go through."""
    if backend == "postgres":
        return {**FAULTS, **POSTGRES_FAULTS}
    return {**FAULTS, **REDIS_FAULTS, **(SENTINEL_FAULTS if sentinel else SINGLE_REDIS_FAULTS)}


def inject(cluster: Cluster, kind: str, rng: random.Random) -> str:
    """Carry out one fault; returns what it hit."""
    host = cluster.leader() if kind in ("sigstop_leader", "kill9_scheduler") else rng.choice(cluster.hosts)
    sentinel = isinstance(cluster.store, Redis) and cluster.store.sentinels is not None
    return faults(cluster.store.backend, sentinel)[kind](cluster, host, rng)


def run_pattern(
    workdir: Path, store: Store, pattern: str, args: argparse.Namespace, schedule: list[tuple[float, str]]
) -> Outcome:
    offsets = args.clock_offsets if pattern == "kit" else [0.0]
    cluster = Cluster(workdir, store, pattern, args.nodes, args.workers, offsets)
    print(f"chaos: {store.label}: {pattern}: starting {args.nodes} masters x {args.workers} workers", flush=True)
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
    outcome = Outcome(pattern, jobs, faults, store=store.label)
    if pattern == "kit":
        _read_kit_log(outcome, cluster)
    return outcome


def _drive(
    cluster: Cluster, schedule: list[tuple[float, str]], args: argparse.Namespace, rng: random.Random
) -> tuple[float, float, list[Fault]]:
    """Start the cluster and inject the schedule's faults; (started, ended, the faults as injected)."""
    faults: list[Fault] = []
    cluster.start()
    started = quiet_since = time.time()
    for offset, kind in schedule:
        wait_for(partial(_is_past, started + offset), offset + 60, "the next fault")
        fault = Fault(time.time(), kind, "")
        fault.target = inject(cluster, kind, rng)
        quiet_since = time.time()  # a fault may wait for its moment (a run of long) and last seconds
        faults.append(fault)
        print(
            f"chaos: {cluster.store.label}: {cluster.pattern}: t+{fault.at - started:5.1f}s {kind} -> {fault.target}",
            flush=True,
        )
    last = schedule[-1][0] if schedule else 0.0  # a run too short for any fault has none
    # settle seconds after the last fault ended too: a fault that ended just before the end left
    # the kit no time to lead again and log what it skipped
    end = max(started + last, quiet_since) + args.settle
    wait_for(partial(_is_past, end), end - time.time() + 60, "the end")
    return started, time.time(), faults


def _is_past(moment: float) -> bool:
    return time.time() >= moment


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
    args: argparse.Namespace, duration: float, backend: str, required: tuple[str, ...] = ()
) -> list[tuple[float, str]]:
    """(seconds from the start, fault kind), all from the seed, drawn from ``backend``'s faults; each
    ``required`` fault once, at a seeded slot."""
    rng = random.Random(args.seed)
    times, at = [], 8.0
    while at < duration - args.settle:
        times.append(round(at, 1))
        at += rng.uniform(args.every * 0.5, args.every * 1.5)
    pool = sorted(faults(backend, args.sentinel and backend == "redis"))
    musts = [kind for kind in required if kind in pool][: len(times)]
    slots = dict(zip(rng.sample(range(len(times)), len(musts)), musts, strict=True))
    return [(at, slots[i] if i in slots else rng.choice(pool)) for i, at in enumerate(times)]


def write_report(
    outcomes: list[Outcome],
    args: argparse.Namespace,
    directory: Path,
    fire_logs: dict[str, Path],
    stores: dict[str, str],
) -> None:
    """report.json, report.md (the stores side by side) and timeline.png; ``stores``: label -> what it was."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(
        json.dumps(
            {
                "seed": args.seed,
                "nodes": args.nodes,
                "workers": args.workers,
                "lease_ttl": TTL,
                "duration": args.duration,
                "stores": stores,
                "outcomes": [asdict(o) for o in outcomes],
            },
            indent=2,
        )
    )
    ran_on = "; ".join(f"{label}: {what}" for label, what in stores.items())
    lines = [
        f"# Chaos report (seed {args.seed})",
        "",
        f"{args.nodes} gunicorn masters x {args.workers} workers, lease TTL {TTL:g} s, {args.duration:g} s of faults "
        f"for the kit on each store ({ran_on}). The kit runs a 1-second tick and `long`, due every 5 s, running "
        f"{LONG_SECONDS:g} s, max_instances=1 (the naive patterns, on Redis: the tick).",
        "",
        f"The kit's hosts' clocks are off the store's by {', '.join(f'{o:+g}' for o in args.clock_offsets)} s.",
        "",
        "Instances at once: from each run's start and end records across all nodes; a run with no end "
        "record ends when its process was seen gone (polled every 0.2 s), else at the end of the run. "
        "`long`'s missed fires include those that waited for a run and were coalesced (not logged one by one).",
        "",
        *table(outcomes),
    ]
    for outcome in outcomes:
        lines += _fault_lines(outcome)
    lines += ["", "![timeline](timeline.png)"]
    (directory / "report.md").write_text("\n".join(lines) + "\n")
    plot(outcomes, fire_logs, directory / "timeline.png")


def _fault_lines(outcome: Outcome) -> list[str]:
    """One outcome's faults, with what each hit and the recovery after it, and its doubles and excess runs."""
    lines = [
        "",
        f"## {outcome.title}: faults",
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
    return lines


def table(outcomes: list[Outcome]) -> list[str]:
    """The summary table: one row per pattern, job and store; the kit's rows first, each job's stores side by side."""
    lines = [
        "| pattern | store | job | fires expected | run once | run more than once | missed "
        "| of those, named in the kit's log | most instances at once (max_instances) | claimed, refused at start |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = [(o, j) for o in outcomes for j in o.jobs]
    jobs = [spec.id for spec in KIT_JOBS]
    rows.sort(key=lambda row: (row[0].pattern != "kit", row[0].pattern, jobs.index(row[1].job)))
    for o, j in rows:
        named = str(j.missed_reported) if o.pattern == "kit" else "n/a"
        most = "n/a (one record per run)" if j.max_at_once is None else str(j.max_at_once)
        refused = str(j.refused_at_start) if o.pattern == "kit" else "n/a"
        lines.append(
            f"| {o.pattern} | {o.store} | {j.job} | {j.expected} | {j.once} | {j.more_than_once} | {j.missed} "
            f"| {named} | {most} ({j.max_instances}) | {refused} |"
        )
    return lines


def plot(outcomes: list[Outcome], fire_logs: dict[str, Path], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(outcomes), 1, figsize=(14, 3.2 * len(outcomes)), squeeze=False)
    for axis, outcome in zip(axes[:, 0], outcomes, strict=True):
        fires = _starts(read_fires(fire_logs[outcome.title]), "tick")
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
            f"{outcome.title}: tick {tick.once} once, {tick.more_than_once} more than once (red), {tick.missed} missed"
        )
        axis.set_xlabel("seconds since the first fire")
    figure.tight_layout()
    figure.savefig(path, dpi=90)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration", type=float, default=120, help="seconds of faults for the kit on each store (default 120)"
    )
    parser.add_argument("--naive-duration", type=float, default=40, help="seconds for each naive pattern")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--every", type=float, default=10, help="mean seconds between faults")
    parser.add_argument("--settle", type=float, default=12, help="seconds without faults at the end")
    add_backend_option(parser)
    parser.add_argument("--sentinel", action="store_true", help="Redis behind Sentinel, with failovers (Redis only)")
    parser.add_argument(
        "--clock-offsets",
        type=lambda raw: [float(part) for part in raw.split(",")],
        default=[0.0, 0.6, 3.0],
        help="seconds each kit host's clock is off the store's, in turn (default 0,0.6,3: the last never leads)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "chaos-results")
    args = parser.parse_args()
    if args.sentinel and args.backend == "postgres":
        parser.error("--sentinel (SENTINEL=1) puts Redis behind Sentinel: run it with --backend redis or both")
    return args


def patterns(args: argparse.Namespace, backend: str) -> list[tuple[str, list[tuple[float, str]]]]:
    """(pattern, fault schedule) to run on ``backend``: the kit; on Redis the naive patterns too."""
    kit = [("kit", fault_schedule(args, args.duration, backend, REQUIRED[backend]))]
    if backend != "redis":
        return kit  # the naive patterns know Redis only (the lock is a Redis lock): they ran there
    naive = fault_schedule(args, args.naive_duration, backend)
    return [*kit, ("naive", naive), ("naive-lock", naive)]


def main() -> int:
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="chaos-"))
    outcomes: list[Outcome] = []
    logs: dict[str, Path] = {}
    stores: dict[str, str] = {}
    for backend in chosen(args.backend):
        store = open_store(backend, workdir / backend, args.sentinel)
        try:
            stores[store.label] = store.describe()
            for pattern, schedule in patterns(args, backend):
                outcome = run_pattern(workdir / backend, store, pattern, args, schedule)
                outcomes.append(outcome)
                logs[outcome.title] = workdir / backend / pattern / "fires.jsonl"
                for job in outcome.jobs:
                    print(
                        f"chaos: {outcome.title}: {job.job}: {job.once} once, {job.more_than_once} more than once, "
                        f"{job.missed} missed of {job.expected}; at most {job.max_at_once} at once "
                        "(None: not recorded)",
                        flush=True,
                    )
        finally:
            store.kill()
    write_report(outcomes, args, args.out, logs, stores)
    print("\n".join(table(outcomes)))
    print(f"chaos: report in {args.out / 'report.md'} (the hosts' logs under {workdir})")
    failures = [f"{o.store}: {failure}" for o in outcomes if o.pattern == "kit" for failure in o.failures()]
    for failure in failures:
        print(f"chaos: the kit failed: {failure}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
