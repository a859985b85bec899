"""make bench: ratios measured side by side in one run, against plain APScheduler and the app without the kit.

Prints each measurement and its ratio, and saves bench-results/results.json and results.md.
The measurements of cluster mode (lag, burst, failover, idle) run on each store ``--backend``
names (Redis, PostgreSQL or both), and results.md puts the stores side by side.
Nothing here asserts an absolute time: the numbers describe this machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from redis import Redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_page import page_timings  # noqa: E402
from bench_stores import BACKENDS, Postgres, Store, add_backend_option, chosen, open_store  # noqa: E402
from bench_stores import Redis as RedisStore  # noqa: E402
from redis_support import RedisServer, StandInLeader  # noqa: E402
from statements import LogWindow, Statements  # noqa: E402
from support import Host, leader_of, wait_for  # noqa: E402

TTL = 2.0
RESULTS: dict[str, Any] = {}
MADE: list[Host] = []  # every host a measurement made, killed at the end even if it failed


def record(name: str, **values: Any) -> None:
    RESULTS[name] = values
    shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
    print(f"bench: {name}: {shown}", flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def lags(path: Path) -> list[tuple[int, float, float]]:
    rows = []
    for line in path.read_text().splitlines() if path.exists() else []:
        index, scheduled, started = line.split()
        rows.append((int(index), float(scheduled), float(started)))
    return rows


def line_count(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def kit_host(work: Path, name: str, store: Store | None, env: dict[str, str], workers: int = 1) -> Host:
    base = {"SCHEDULER_LOG_LEVEL": "WARNING", "GRACEFUL_TIMEOUT": "5"}
    if store is not None:  # a lease TTL without a store is refused at start
        base |= {**store.kit_env(), "SCHEDULER_LEASE_TTL": str(TTL)}
    host = Host(work, name, "bench_jobs:jobs", env={**base, **env}, workers=workers)
    MADE.append(host)
    return host


def stop(host: Host) -> None:
    if host.process is not None and host.process.poll() is None:
        host.signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            host.process.wait(20)
    host.kill_everything()


def run_plain(work: Path, count: int, interval: float, seconds: float) -> Path:
    output = work / f"plain-{count}.txt"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench/plain_apscheduler.py"),
            str(count),
            str(interval),
            str(seconds),
            str(output),
        ],
        check=True,
    )
    return output


def bench_lag(work: Path, store: Store) -> None:
    count, seconds = 20, 15.0
    host = kit_host(work / f"lag-{store.backend}", "lag", store, {"BENCH_JOBS": str(count), "BENCH_INTERVAL": "1"})
    host.start_and_wait()
    deadline = time.time() + seconds
    wait_for(lambda: time.time() > deadline, seconds + 5, "the lag sample")
    stop(host)
    kit = [started - scheduled for _, scheduled, started in lags(host.fire_log)]
    plain = [started - scheduled for _, scheduled, started in lags(run_plain(work, count, 1, seconds))]
    record(
        f"fire_lag_ms_{store.backend}",
        kit_p50=percentile(kit, 0.5) * 1000,
        kit_p99=percentile(kit, 0.99) * 1000,
        plain_p50=percentile(plain, 0.5) * 1000,
        plain_p99=percentile(plain, 0.99) * 1000,
        p99_difference_ms=(percentile(kit, 0.99) - percentile(plain, 0.99)) * 1000,
        samples=len(kit),
        goal="p99 at most 5 ms worse",
    )


def bench_burst(work: Path, store: Store) -> None:
    count, interval = 10_000, 20.0
    host = kit_host(
        work / f"burst-{store.backend}",
        "burst",
        store,
        {"BENCH_JOBS": str(count), "BENCH_INTERVAL": str(interval), "SCHEDULER_START_TIMEOUT": "120"},
    )
    host.start_and_wait(timeout=120)
    # Counting lines, not parsing them, every 0.25 s: the wait must not take CPU from the burst.
    wait_for(lambda: line_count(host.fire_log) >= count, 3 * interval + 30, "the burst to start", interval=0.25)
    stop(host)
    kit = _burst_span(lags(host.fire_log), count)
    plain = _burst_span(lags(run_plain(work, count, interval, 2 * interval + 5)), count)
    record(
        f"burst_10k_seconds_{store.backend}", kit=kit, plain=plain, ratio=kit / plain, goal="at most 1.5x and under 1 s"
    )


def _burst_span(rows: list[tuple[int, float, float]], count: int) -> float:
    """From the scheduled time to the start of the last of the first full burst."""
    by_time: dict[float, list[float]] = {}
    for _, scheduled, started in rows:
        by_time.setdefault(scheduled, []).append(started)
    full = [(scheduled, starts) for scheduled, starts in sorted(by_time.items()) if len(starts) >= count * 0.99]
    scheduled, starts = full[0]
    return max(starts) - scheduled


#: How each failover is caused, and the lease TTL it runs at.
FAILOVERS = {
    "host_death": ("kill -9 of every process of the leader's node (a dead host): the lease must expire", TTL),
    "graceful": ("TERM of the leader", TTL),
    "graceful_long_job": ("TERM of the leader while a 20 s job runs on it", 10.0),
    "runner_crash": ("kill -9 of the leader's runner, its host alive", 10.0),
}


def bench_failover(work: Path, store: Store) -> None:
    results = {kind: _failover(work / store.backend, store, kind, ttl) for kind, (_, ttl) in FAILOVERS.items()}
    record(
        f"failover_seconds_{store.backend}",
        **results,
        host_death_ttl=TTL,
        goal="host death at most TTL + 1 s (TTL 2); graceful, with or without a long job, under 1 s; "
        "runner crash at most 1.5 s (TTL 10)",
    )


def _failover(work: Path, store: Store, kind: str, ttl: float) -> float:
    """Seconds from the fault to the first fire of another node (or, after a crash, of a new runner)."""
    env = {
        "BENCH_JOBS": "1",
        "BENCH_INTERVAL": "0.1",
        "SCHEDULER_NAMESPACE": f"fo-{kind}",
        "SCHEDULER_LEASE_TTL": str(ttl),
    }
    if kind == "graceful_long_job":
        env |= {"BENCH_LONG": "20", "GRACEFUL_TIMEOUT": "30"}
    hosts = [kit_host(work / f"failover-{kind}", f"node-{i}", store, env) for i in range(2)]
    for host in hosts:
        host.start()
    leader = leader_of(hosts, timeout=30)
    log = leader.fire_log
    led_at = time.time()
    wait_for(lambda: len(lags(log)) > 10, 15, "fires")
    if kind == "graceful_long_job":  # it starts on the next 5 s boundary and runs 20 s: then it runs
        wait_for(lambda: time.time() - led_at > 6, 10, "the long job to be running")
    [runner] = leader.runner_pids()
    if kind == "host_death":
        leader.kill_everything()  # every process stopped before any is killed: none sees another die
    elif kind == "runner_crash":
        os.kill(runner, signal.SIGKILL)
    else:
        leader.signal(signal.SIGTERM)
    at = time.time()
    first = wait_for(lambda: [s for _, _, s in lags(log) if s > at + 0.01], 30, "a fire after the fault", interval=0.02)
    for host in hosts:
        stop(host)
    return min(first) - at


def wrk(url: str, seconds: int = 8) -> float:
    output = subprocess.run(["wrk", "-t2", "-c32", f"-d{seconds}s", url], capture_output=True, text=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    return float(match[1]) if match else 0.0


def bench_web(work: Path, rounds: int = 5) -> None:
    """Requests/s on /healthz, after a warm-up; medians compared.

    One server at a time. The idle ratio is the median of per-round ratios of two runs
    back to back (without the kit first in even rounds, the kit first in odd ones), so slow
    drift of this shared VM cancels out; single runs still vary by +-20 %, so the spread is
    reported too, and, as a measure that noise does not blur, the CPU share the
    scheduler's processes took while the web workers were under load.
    """
    if shutil.which("wrk") is None:
        record("web_rps", skipped="wrk is not installed (apt-get install wrk)")
        return
    variants = {"without_kit": {"SCHEDULER_ENABLED": "false"}, "kit_idle": {}, "kit_cpu_job": {"BENCH_CPU": "1"}}
    rates: dict[str, list[float]] = {label: [] for label in variants}
    scheduler_cpu: list[float] = []
    for round_ in range(rounds):
        pair = ["without_kit", "kit_idle"] if round_ % 2 == 0 else ["kit_idle", "without_kit"]
        for label in [*pair, "kit_cpu_job"]:
            host = kit_host(work / f"web-{label}-{round_}", label, None, {**variants[label], "BENCH_JOBS": "0"}, 2)
            host.start()
            try:
                wait_for(partial(_healthy, host), 30, f"{label} to answer")
                wrk(f"http://127.0.0.1:{host.port}/healthz", 1)  # warm-up
                pids = host.supervisor_pids() + host.runner_pids()
                before = sum(_proc(pid)[1] for pid in pids)
                started = time.monotonic()
                rates[label].append(wrk(f"http://127.0.0.1:{host.port}/healthz", 3))
                if label == "kit_idle":
                    used = sum(_proc(pid)[1] for pid in pids) - before
                    scheduler_cpu.append(used / ((time.monotonic() - started) * (os.cpu_count() or 1)))
            finally:
                stop(host)
    median = {label: statistics.median(values) for label, values in rates.items()}
    record(
        "web_rps",
        without_kit=median["without_kit"],
        kit_idle=median["kit_idle"],
        kit_cpu_job=median["kit_cpu_job"],
        idle_ratio=statistics.median(k / w for k, w in zip(rates["kit_idle"], rates["without_kit"], strict=True)),
        busy_ratio=median["kit_cpu_job"] / median["without_kit"],
        without_kit_spread=f"{min(rates['without_kit']):.0f}-{max(rates['without_kit']):.0f}",
        scheduler_cpu_share_under_load_percent=statistics.median(scheduler_cpu) * 100,
        goal="idle ratio at least 0.97",
    )


def _healthy(host: Host) -> bool:
    try:
        return host.get("/healthz").status_code == 200
    except httpx.HTTPError:
        return False


def _kib(name: str, text: str) -> int:
    """The number of a ``Name:  1234 kB`` line of a /proc file (status, meminfo)."""
    found = re.search(rf"{name}:\s+(\d+)", text)
    if found is None:
        raise LookupError(f"no {name} line in {text!r}")
    return int(found[1])


def _proc(pid: int) -> tuple[float, float]:
    """(RSS in MiB, CPU seconds) of a process."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss = _kib("VmRSS", status) / 1024
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return rss, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


#: The idle measurements' environment: the default lease TTL, one job every 10 minutes.
IDLE_ENV = {"SCHEDULER_LEASE_TTL": "10", "BENCH_JOBS": "1", "BENCH_INTERVAL": "600"}
IDLE_GOAL = (
    "leader at most 2 and standby at most 0.5 commands (statements)/s at idle; supervisor at most 20 MiB, "
    "supervisor + runner at most 60 MiB"
)


def bench_idle(work: Path, store: Store) -> None:
    """Memory, CPU and the store's load at idle, per role, and a fire's cost, on ``store``."""
    if isinstance(store, Postgres):
        bench_idle_postgres(work / "idle-postgres")
    else:
        bench_idle_redis(work, store)


def bench_idle_redis(work: Path, store: RedisStore) -> None:
    """At the default lease TTL: memory, CPU and Redis commands of one node at idle, and a fire's Redis cost.

    Redis commands are counted per role, as Redis counts them (a script's inner commands too):
    a leader alone with one job every 10 minutes, then two standbys while a stand-in leader
    renews the lease as the kit's does (its renewals are subtracted). A fire's cost is what a
    leader with one job every second sends beyond the idle leader, per fire: commands as
    Redis counts them, and round trips (commands sent by clients; MONITOR tells them apart).
    """
    seconds, redis = 20.0, store.master()
    [leader] = _idle_nodes(work / "idle-leader", store, 1, {**IDLE_ENV, "SCHEDULER_NAMESPACE": "idle-leader"})
    leader_rate, (supervisor, runner, cpu) = _commands_per_second(redis, [leader], seconds)
    idle_trips = _round_trips_per_second(redis, seconds)
    stop(leader)
    busy_env = {**IDLE_ENV, "BENCH_INTERVAL": "1", "SCHEDULER_NAMESPACE": "idle-busy"}
    [busy] = _idle_nodes(work / "idle-busy", store, 1, busy_env)
    busy_rate, _ = _commands_per_second(redis, [busy], seconds)
    busy_trips = _round_trips_per_second(redis, seconds)
    stop(busy)
    with StandInLeader(redis, "{idle-standby}:leader") as stand_in:
        standbys = _idle_nodes(work / "idle-standby", store, 2, {**IDLE_ENV, "SCHEDULER_NAMESPACE": "idle-standby"})
        before = stand_in.renewals
        rate, _ = _commands_per_second(redis, standbys, seconds)
        standby_rate = rate - (stand_in.renewals - before) / seconds / len(standbys)
        _check_standbys(standbys)
        for host in standbys:
            stop(host)
    record(
        "scheduler_idle_redis",
        supervisor_rss_mib=supervisor,
        runner_rss_mib=runner,
        rss_mib_per_host=supervisor + runner,
        cpu_percent_per_host=cpu * 100,
        counted="commands as Redis counts them (INFO; a script's inner commands too); round trips: "
        "commands clients sent (MONITOR)",
        leader_per_second=leader_rate,
        leader_round_trips_per_second=idle_trips,
        standby_per_second=standby_rate,
        per_fire=busy_rate - leader_rate,
        round_trips_per_fire=busy_trips - idle_trips,
        goal=IDLE_GOAL,
    )


def bench_idle_postgres(work: Path) -> None:
    """At the default lease TTL: memory, CPU and PostgreSQL statements of a leader and each standby, and a fire's cost.

    On a server of its own that logs every statement (log_statement=all; ``statements`` says
    what counts as one). Three nodes, one job every 10 minutes: the kit's connections name
    their node, so one sample of ``seconds`` gives the leader's count and each standby's (no
    stand-in leader needed), after the nodes have been up for a few seconds (the schema's
    migration and the first lease calls left out). A fire's cost is what a leader alone with
    one job every second sends beyond the idle leader, per fire.
    """
    seconds, settle = 30.0, 5.0
    store = Postgres(work, log_statements=True)
    try:
        hosts = _idle_nodes(work / "cluster", store, 3, {**IDLE_ENV, "SCHEDULER_NAMESPACE": "idle"})
        leader = leader_of(hosts)
        standbys = [host for host in hosts if host is not leader]
        _quiet(settle)
        window = LogWindow(store.server.log)
        supervisor, runner, cpu = _usage([leader], seconds)
        idle = window.close()
        _check_standbys(standbys)
        for host in hosts:
            stop(host)
        [busy] = _idle_nodes(
            work / "busy", store, 1, {**IDLE_ENV, "BENCH_INTERVAL": "1", "SCHEDULER_NAMESPACE": "busy"}
        )
        _quiet(settle)
        window = LogWindow(store.server.log)
        _usage([busy], seconds)
        busy_count = window.close()
        stop(busy)
    finally:
        store.kill()
    leader_rate = idle.by_node[leader.name] / seconds
    standby_rates = [idle.by_node[host.name] / seconds for host in standbys]
    record(
        "scheduler_idle_postgres",
        supervisor_rss_mib=supervisor,
        runner_rss_mib=runner,
        rss_mib_per_host=supervisor + runner,
        cpu_percent_per_host=cpu * 100,
        counted=f"statements the server logged (log_statement=all; BEGIN/COMMIT included) per node, by "
        f"application_name; {seconds:g} s samples",
        leader_per_second=leader_rate,
        leader_transaction_control_per_second=idle.control_by_node[leader.name] / seconds,
        standby_per_second=statistics.mean(standby_rates),
        busiest_standby_per_second=max(standby_rates),
        per_fire=busy_count.by_node[busy.name] / seconds - leader_rate,
        leader_by_purpose=_by_purpose(idle, leader.name, seconds),
        standby_by_purpose=_by_purpose(idle, standbys[0].name, seconds),
        fire_by_purpose=_by_purpose(busy_count, busy.name, seconds),
        others=dict(idle.others),
        goal=IDLE_GOAL,
    )


def _by_purpose(counted: Statements, node: str, seconds: float) -> str:
    """``lease 0.40/s, bus 0.10/s``: one node's statements per second by the purpose of its connections."""
    rates = sorted(((purpose, n / seconds) for (who, purpose), n in counted.by_purpose.items() if who == node))
    return ", ".join(f"{purpose or '?'} {rate:.2f}/s" for purpose, rate in rates) or "none"


def _quiet(seconds: float) -> None:
    """Let the nodes settle (their start's statements are not idle ones)."""
    deadline = time.time() + seconds
    wait_for(lambda: time.time() > deadline, seconds + 2, "the nodes to settle")


def _check_standbys(standbys: list[Host]) -> None:
    roles = [(host.status() or {}).get("role") for host in standbys]
    if roles != ["standby"] * len(standbys):
        raise RuntimeError(f"the standbys did not stay standbys ({roles}): their count is not a standby's")


def _round_trips_per_second(redis: RedisServer, seconds: float) -> float:
    """Commands clients sent (not a script's inner ones) per second, read from MONITOR; ours excluded."""
    sent = 0
    # redis-py leaves Redis.monitor unannotated.
    with Redis.from_url(redis.url, socket_timeout=None).monitor() as monitor:  # type: ignore[no-untyped-call]
        deadline = time.time() + seconds
        while time.time() < deadline:
            command = monitor.next_command()
            if command.get("client_type") != "lua" and not str(command.get("command", "")).startswith("MONITOR"):
                sent += 1
    return sent / seconds


def _idle_nodes(work: Path, store: Store, count: int, env: dict[str, str]) -> list[Host]:
    hosts = [kit_host(work, f"node-{i}", store, env) for i in range(count)]
    for host in hosts:
        host.start()
    for host in hosts:
        wait_for(partial(host.in_role, "leader", "standby"), 30, "up")
    return hosts


def _commands_per_second(
    redis: RedisServer, hosts: list[Host], seconds: float
) -> tuple[float, tuple[float, float, float]]:
    """Redis commands per second per host over ``seconds``; (supervisor MiB, runner MiB, CPU share) per host."""
    client = redis.client()
    before_cmds = int(client.info("stats")["total_commands_processed"])
    usage = _usage(hosts, seconds)
    commands = int(client.info("stats")["total_commands_processed"]) - before_cmds - 1  # our own INFO
    return commands / seconds / len(hosts), usage


def _usage(hosts: list[Host], seconds: float) -> tuple[float, float, float]:
    """Waits ``seconds``; the hosts' supervisor MiB, runner MiB and CPU share (of one core) per host."""
    supervisors = [pid for host in hosts for pid in host.supervisor_pids()]
    runners = [pid for host in hosts for pid in host.runner_pids()]
    before = {pid: _proc(pid) for pid in supervisors + runners}
    deadline = time.time() + seconds
    wait_for(lambda: time.time() > deadline, seconds + 2, "the idle sample")
    after = {pid: _proc(pid) for pid in supervisors + runners}
    cpu = sum(after[pid][1] - before[pid][1] for pid in after) / len(hosts) / seconds
    return (
        sum(after[pid][0] for pid in supervisors) / len(hosts),
        sum(after[pid][0] for pid in runners) / len(hosts),
        cpu,
    )


def bench_startup(work: Path) -> None:
    times: dict[str, list[float]] = {"with_kit": [], "without_kit": []}
    for round_ in range(3):
        for label, env in (("with_kit", {}), ("without_kit", {"SCHEDULER_ENABLED": "false"})):
            host = kit_host(
                work / f"start-{label}-{round_}", label, None, {**env, "BENCH_JOBS": "1", "BENCH_INTERVAL": "3600"}
            )
            started = time.monotonic()
            host.start()
            ready: Callable[[], bool] = (
                partial(host.in_role, "leader") if label == "with_kit" else partial(_healthy, host)
            )
            wait_for(ready, 30, f"{label} healthy")
            times[label].append(time.monotonic() - started)
            stop(host)
    with_kit, without = statistics.median(times["with_kit"]), statistics.median(times["without_kit"])
    record("start_to_healthy_seconds", with_kit=with_kit, without_kit=without, ratio=with_kit / without)


def bench_page(work: Path, count: int = 10_000) -> None:
    """The status page in Chromium with 10,000 jobs: first render and refresh times, requests per refresh."""
    env = {"BENCH_JOBS": str(count), "BENCH_INTERVAL": "3600", "SCHEDULER_START_TIMEOUT": "120"}
    host = kit_host(work / "page", "page", None, env, workers=2)
    host.start_and_wait(timeout=120)
    try:
        record("status_page_10k", **page_timings(f"http://127.0.0.1:{host.port}/scheduler/", count))
    finally:
        stop(host)


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = _kib("MemTotal", Path("/proc/meminfo").read_text()) // 1024
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_mib": memory,
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


#: The sections of cluster mode: each runs once per store --backend names.
PER_STORE = ("lag", "burst", "failover", "idle")
SECTIONS = ("lag", "burst", "failover", "web", "idle", "startup", "page")


def write(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    document = {"machine": machine(), "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **RESULTS}
    (directory / "results.json").write_text(json.dumps(document, indent=2))
    lines = [f"# Bench results ({document['when']})", "", f"Machine: {json.dumps(document['machine'])}", ""]
    for name, values in RESULTS.items():
        lines.append(f"- **{name}**: " + ", ".join(f"{k} {_shown(v)}" for k, v in values.items()))
    lines += side_by_side(RESULTS)
    (directory / "results.md").write_text("\n".join(lines) + "\n")
    print(f"bench: saved {directory / 'results.json'}")


def _shown(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def side_by_side(results: dict[str, Any]) -> list[str]:
    """A table per measurement made on each store (``<name>_<backend>``): its values in a column per store."""
    per_store: dict[str, dict[str, dict[str, Any]]] = {}
    for name, values in results.items():
        for backend, label in BACKENDS.items():
            if name.endswith(f"_{backend}"):
                per_store.setdefault(name.removesuffix(f"_{backend}"), {})[label] = values
    lines: list[str] = []
    for name, stores in per_store.items():
        keys = list(dict.fromkeys(key for values in stores.values() for key in values))
        lines += ["", f"## {name}", "", "| | " + " | ".join(stores) + " |", "|---|" + "---|" * len(stores)]
        lines += [f"| {key} | " + " | ".join(_shown(v.get(key, "")) for v in stores.values()) + " |" for key in keys]
    return lines


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sections", nargs="*", help=f"the sections to run (default all): {', '.join(SECTIONS)}")
    add_backend_option(parser)
    args = parser.parse_args()
    unknown = sorted(set(args.sections) - set(SECTIONS))
    if unknown:
        parser.error(f"no section {', '.join(unknown)}; the sections: {', '.join(SECTIONS)}")
    return args


def main() -> int:
    args = parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    wanted = [name for name in SECTIONS if not args.sections or name in args.sections]
    stores = (
        [open_store(backend, work / backend) for backend in chosen(args.backend)]
        if set(wanted) & set(PER_STORE)
        else []
    )
    try:
        once: dict[str, Callable[[], None]] = {
            "web": lambda: bench_web(work),
            "startup": lambda: bench_startup(work),
            "page": lambda: bench_page(work),
        }
        each: dict[str, Callable[[Path, Store], None]] = {
            "lag": bench_lag,
            "burst": bench_burst,
            "failover": bench_failover,
            "idle": bench_idle,
        }
        for name in wanted:
            if name in each:
                for store in stores:
                    print(f"bench: {name} on {store.label}", flush=True)
                    each[name](work, store)
            else:
                once[name]()
    finally:
        for host in MADE:
            host.kill_everything()
        for store in stores:
            store.kill()
        shutil.rmtree(work, ignore_errors=True)
    write(ROOT / "bench-results")
    return 0


if __name__ == "__main__":
    sys.exit(main())
