"""make chaos: random, seeded faults against N real gunicorn masters on one real Redis.

Runs the kit in cluster mode, then the two naive patterns under the same fault schedule,
and writes chaos-results/report.md, report.json and timeline.png. Exits 1 if the kit ran
any fire more than once, or missed one without saying so in its log. ``--sentinel`` puts
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
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from redis_support import RedisServer, Sentinels  # noqa: E402
from support import Host, pids_with_marker, read_fires, reported_seconds, wait_for  # noqa: E402

TTL = 2.0


@dataclass
class Fault:
    """One injected fault and the recovery it caused (first fire after it, in seconds)."""

    at: float
    kind: str
    target: str
    recovery: float | None = None


@dataclass
class Outcome:
    pattern: str
    expected: int
    once: int
    more_than_once: int
    missed: int
    faults: list[Fault] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    missed_seconds: list[int] = field(default_factory=list)
    missed_reported: int = 0  # missed seconds the kit's log names as missed or skipped
    missed_unreported: list[str] = field(default_factory=list)


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
        self.hosts: list[Host] = []
        self.master: dict[str, int] = {}
        for i in range(nodes):
            env = {
                **redis.kit_env(),
                "SCHEDULER_LEASE_TTL": str(TTL),
                "SCHEDULER_NAMESPACE": f"chaos-{pattern}",
                "GRACEFUL_TIMEOUT": "5",
                "SCHEDULER_TEST_CLOCK_OFFSET": str(offsets[i % len(offsets)]),
            }
            extra: list[str] = []
            if pattern != "kit":  # the naive app knows one Redis address, as such apps usually do
                lock = "1" if pattern == "naive-lock" else "0"
                env.update({"NAIVE_LOCK": lock, "NAIVE_REDIS_URL": redis.master().url})
                extra = []
            host = Host(workdir / pattern, f"node-{i}", "ticker:jobs", env=env, workers=workers, extra_args=extra)
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
}
#: Restarting a Sentinel-watched master empty would wipe its replicas too (a misconfiguration
#: Redis documents), so with Sentinel the Redis fault is a failover instead.
SINGLE_REDIS_FAULTS: dict[str, Inject] = {
    "redis_restart": _redis_restart,
    "redis_snapshot_restore": _redis_snapshot_restore,
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
    rng = random.Random(args.seed)
    faults: list[Fault] = []
    print(f"chaos: {pattern}: starting {args.nodes} masters x {args.workers} workers", flush=True)
    try:
        cluster.start()
        started = time.time()
        for offset, kind in schedule:
            wait_for(lambda o=offset: time.time() - started >= o, offset + 60, "the next fault")
            fault = Fault(time.time(), kind, "")
            fault.target = inject(cluster, kind, rng)
            faults.append(fault)
            print(f"chaos: {pattern}: t+{fault.at - started:5.1f}s {kind} -> {fault.target}", flush=True)
        wait_for(lambda: time.time() - started >= schedule[-1][0] + args.settle, args.settle + 60, "the end")
        ended = time.time()
    finally:
        cluster.stop()
    outcome = analyse(pattern, read_fires(cluster.fire_log), started + 3, ended - 2, faults)
    if pattern == "kit":
        reported = reported_seconds("".join(host.output() for host in cluster.hosts))
        outcome.missed_reported = sum(1 for s in outcome.missed_seconds if s in reported)
        outcome.missed_unreported = [_iso(s) for s in outcome.missed_seconds if s not in reported]
    return outcome


def _iso(second: int) -> str:
    return datetime.fromtimestamp(second, tz=UTC).isoformat()


def analyse(pattern: str, fires: list[dict[str, Any]], start: float, end: float, faults: list[Fault]) -> Outcome:
    seconds = Counter(int(datetime.fromisoformat(f["scheduled_at"]).timestamp()) for f in fires)
    expected = range(math.ceil(start), math.floor(end))
    once = sum(1 for s in expected if seconds[s] == 1)
    doubled = [s for s in expected if seconds[s] > 1]
    missed = [s for s in expected if seconds[s] == 0]
    for fault in faults:
        after = [f["started"] for f in fires if f["started"] > fault.at]
        fault.recovery = round(min(after) - fault.at, 3) if after else None
    return Outcome(pattern, len(expected), once, len(doubled), len(missed), faults, [_iso(s) for s in doubled], missed)


def fault_schedule(args: argparse.Namespace, duration: float) -> list[tuple[float, str]]:
    rng = random.Random(args.seed)
    schedule, at = [], 8.0
    while at < duration - args.settle:
        schedule.append((round(at, 1), rng.choice(sorted(faults(args.sentinel)))))
        at += rng.uniform(args.every * 0.5, args.every * 1.5)
    return schedule


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
        f"{args.nodes} gunicorn masters x {args.workers} workers, {redis}, a 1-second job, lease TTL {TTL:g} s.",
        "",
        f"The kit's hosts' clocks are off Redis's by {', '.join(f'{o:+g}' for o in args.clock_offsets)} s.",
        "",
        "| pattern | fires expected | run once | run more than once | missed | of those, named in the kit's log |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {o.pattern} | {o.expected} | {o.once} | {o.more_than_once} | {o.missed} | "
        + (f"{o.missed_reported} |" if o.pattern == "kit" else "n/a |")
        for o in outcomes
    ]
    for outcome in outcomes:
        lines += [
            "",
            f"## {outcome.pattern}: faults",
            "",
            "| t | fault | target | first fire after (s) |",
            "|---|---|---|---|",
        ]
        t0 = outcome.faults[0].at if outcome.faults else 0
        lines += [f"| +{f.at - t0:.1f}s | {f.kind} | {f.target} | {f.recovery} |" for f in outcome.faults]
        if outcome.duplicates:
            lines += ["", f"Seconds run more than once: {', '.join(outcome.duplicates[:20])}"]
        if outcome.missed_unreported:
            lines += ["", f"Seconds missed without a log line: {', '.join(outcome.missed_unreported[:20])}"]
    lines += ["", "![timeline](timeline.png)"]
    (directory / "report.md").write_text("\n".join(lines) + "\n")
    plot(outcomes, fire_logs, directory / "timeline.png")


def plot(outcomes: list[Outcome], fire_logs: dict[str, Path], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(outcomes), 1, figsize=(14, 3.2 * len(outcomes)), squeeze=False)
    for axis, outcome in zip(axes[:, 0], outcomes, strict=True):
        fires = read_fires(fire_logs[outcome.pattern])
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
            f"{outcome.pattern}: {outcome.once} once, {outcome.more_than_once} more than once "
            f"(red), {outcome.missed} missed"
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
        kit_schedule = fault_schedule(args, args.duration)
        naive_schedule = [(at, kind) for at, kind in fault_schedule(args, args.naive_duration)]
        for pattern, schedule in (("kit", kit_schedule), ("naive", naive_schedule), ("naive-lock", naive_schedule)):
            outcome = run_pattern(workdir, redis, pattern, args, schedule)
            outcomes.append(outcome)
            logs[pattern] = workdir / pattern / "fires.jsonl"
            print(
                f"chaos: {pattern}: {outcome.once} once, {outcome.more_than_once} more than once, "
                f"{outcome.missed} missed of {outcome.expected}",
                flush=True,
            )
    finally:
        redis.kill()
    write_report(outcomes, args, args.out, logs, redis.describe())
    print(f"chaos: report in {args.out / 'report.md'}")
    kit = outcomes[0]
    return 1 if kit.more_than_once or kit.missed_unreported else 0


if __name__ == "__main__":
    sys.exit(main())
