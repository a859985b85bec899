"""Three app hosts and a Redis host (or a PostgreSQL host), each under a real systemd, deployed the
way docs/deploy.md's "Several hosts" recipe says; then what goes wrong between hosts.

With Redis, each app host reaches it through its own relay on the bridge (tests/vm/proxy.py), so
one host can be cut off, slowed or made lossy alone. With PostgreSQL, the app hosts connect to it
directly, as a role that owns only the app's schema; its faults are the server's own (a restart,
the leader's connections terminated). Every scenario asserts on the fire log of the 1-second
job: no second ran twice, and every second that did not run is named in some host's journal as
missed or skipped.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from firelog import Fire, now, scenario, ticks, wait_ticks
from lab import APP, Lab
from machines import SUBNET, Machine
from support import wait_for

from scheduler_proc.variables import schema_for_namespace

PASSWORD = "vm-test-redis-password-7f3a"
TTL = 4
REDIS_HOST = f"{SUBNET}.100"
APP_HOSTS = {"web1": 11, "web2": 12, "web3": 13}
#: The PostgreSQL host's app role, its database and the schema the role owns (the demo app's default:
#: ``scheduler_`` + its namespace).
PG_PASSWORD = "vm-test-postgres-password-2b9d"
PG_HOST = f"{SUBNET}.100"
PG_ROLE = PG_DATABASE = APP
PG_SCHEMA = schema_for_namespace({})


def _redis_host(lab: Lab) -> Machine:
    """Debian's redis-server, opened to the network with a password, fsync on every write."""
    redis = lab.host("redis", 100)
    settings = (
        "\nbind 0.0.0.0\nprotected-mode no\n"
        f"requirepass {PASSWORD}\nappendonly yes\nappendfsync always\nmaxmemory-policy noeviction\n"
    )
    with open(redis.file("/etc/redis/redis.conf"), "a") as conf:
        conf.write(settings)
    redis.run(["systemctl", "enable", "--now", "redis-server"])
    wait_for(
        lambda: "PONG" in redis.run(["redis-cli", "-a", PASSWORD, "--no-auth-warning", "ping"], check=False).stdout,
        30,
        "redis to answer",
    )
    return redis


def _postgres_host(lab: Lab) -> Machine:
    """Debian's PostgreSQL, opened to the app hosts, with a role that owns only the app's schema.

    The role gets no CREATE on the database (nor, on PostgreSQL 15, on schema public): the kit
    creates and migrates its tables in the schema it owns, and can touch nothing else.
    """
    postgres = lab.host("postgres", 100)
    (version,) = [path.name for path in postgres.file("/etc/postgresql").iterdir()]
    with open(postgres.file(f"/etc/postgresql/{version}/main/postgresql.conf"), "a") as conf:
        conf.write("\nlisten_addresses = '*'\n")
    with open(postgres.file(f"/etc/postgresql/{version}/main/pg_hba.conf"), "a") as hba:
        hba.write(f"\nhost {PG_DATABASE} {PG_ROLE} {SUBNET}.0/24 scram-sha-256\n")
    postgres.run(["systemctl", "enable", "--now", "postgresql"])
    wait_for(lambda: postgres.run(["pg_isready", "-q"], check=False).returncode == 0, 30, "PostgreSQL to answer")
    _psql(postgres, f"CREATE ROLE {PG_ROLE} LOGIN PASSWORD '{PG_PASSWORD}'", f"CREATE DATABASE {PG_DATABASE}")
    _psql(postgres, f"CREATE SCHEMA {PG_SCHEMA} AUTHORIZATION {PG_ROLE}", database=PG_DATABASE)
    return postgres


def _psql(postgres: Machine, *statements: str, database: str = "postgres") -> str:
    """Each statement as the ``postgres`` superuser on the PostgreSQL host (its unix socket); the output."""
    command = ["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1"]
    result = postgres.run([*command, "-d", database, *(arg for sql in statements for arg in ("-c", sql))])
    return result.stdout.strip()


def _kill_unit(host: Machine) -> None:
    """kill -9 of every process of the app's unit on ``host`` at once (the master, its workers, the scheduler).

    Not ``systemctl kill --signal=SIGKILL``: on a machine whose cgroup tree nspawn cannot
    delegate, every host's ``kit.service`` is one cgroup, and systemd fails to signal the other
    hosts' processes ("Input/output error"). Read from inside the host, that cgroup lists them
    as pid 0, which must never reach ``kill``: ``kill -9 0`` signals kill's own process group,
    this test's.
    """
    cgroup = host.run(["systemctl", "show", "--property=ControlGroup", "--value", APP]).stdout.strip()
    listed = host.run(["cat", f"/sys/fs/cgroup{cgroup}/cgroup.procs"]).stdout.split()
    pids = [pid for pid in listed if pid.isdigit() and int(pid) > 1]
    assert pids, f"{APP}'s unit on {host.name} has no process to kill"
    host.run(["kill", "-9", *pids], check=False)  # one may have ended meanwhile


def _deploy(lab: Lab, host: Machine, store: str, url: str, password: str) -> str:
    """``make deploy`` with ``store`` (REDIS or POSTGRES) exported as docs/deploy.md says; then a short lease."""
    output = lab.make(host, "deploy", f"APP={APP}", "BIND=0.0.0.0:8000", env={store: url})
    env = host.file(f"/etc/{APP}/env").read_text()
    assert password not in output, f"make deploy printed the {store} password"
    assert f"SCHEDULER_{store}_PASSWORD={password}" in env and f":{password}@" not in env, env
    assert oct(host.file(f"/etc/{APP}/env").stat().st_mode & 0o777) == "0o640"
    with open(host.file(f"/etc/{APP}/env"), "a") as handle:
        handle.write(f"SCHEDULER_LEASE_TTL={TTL}\n")
    host.run(["systemctl", "restart", APP], timeout=180)
    return output


def _leader(lab: Lab, after: float) -> str:
    def latest() -> str | None:
        recent = [f for f in ticks(lab.fires()) if float(f["started"]) > after]
        return str(max(recent, key=lambda f: float(f["started"]))["node"]) if recent else None

    return str(wait_for(latest, 30, "a leader to run ticks", interval=0.5))


def test_three_hosts_one_redis_every_second_once_through_failures(lab: Lab) -> None:
    redis = _redis_host(lab)
    controls: dict[str, Path] = {}
    hosts = [lab.host(name, number) for name, number in APP_HOSTS.items()]
    for index, host in enumerate(hosts):
        controls[host.name] = lab.relay(6380 + index, f"{REDIS_HOST}:6379")
    with ThreadPoolExecutor(len(hosts)) as pool:
        outputs = list(
            pool.map(
                lambda pair: _deploy(lab, pair[0], "REDIS", f"redis://:{PASSWORD}@{SUBNET}.1:{pair[1]}/0", PASSWORD),
                zip(hosts, range(6380, 6383), strict=True),
            )
        )
    assert any("scheduler role leader" in output for output in outputs), outputs
    by_name = {host.name: host for host in hosts}

    def read() -> list[Fire]:
        return lab.fires()

    # Steady state: one leader, every second once.
    start = now()
    wait_ticks(read, start, 15, 60, "15 seconds of fires")
    steady = scenario("cluster: steady", read, lab.machines, APP, start + 1, start, now() - 1)
    assert len(steady["nodes"]) == 1, steady

    # The leader's host shuts down (systemctl poweroff): its service stops, the lease is
    # handed over at once, then the host comes back as a standby.
    leader = _leader(lab, now() - 3)
    fault = now()
    by_name[leader].poweroff()
    wait_ticks(read, fault + 1, 5, 60, "fires after the leader's host powered off")
    off = scenario("cluster: leader host poweroff", read, lab.machines, APP, fault - 2, fault, now() - 1, leader)
    assert off["first_fire_after_fault_s"] is not None and off["first_fire_after_fault_s"] < TTL, off
    by_name[leader].boot()

    # A dead host: the leader's whole container is killed; another host takes over.
    leader = _leader(lab, now() - 3)
    fault = now()
    by_name[leader].kill()
    wait_ticks(read, fault + 2 * TTL, 5, 60, "fires after the leader's host died")
    died = scenario("cluster: leader host killed", read, lab.machines, APP, fault - 2, fault, now() - 1, leader)
    assert died["first_fire_after_fault_s"] is not None and died["first_fire_after_fault_s"] < 2 * TTL + 3, died
    by_name[leader].boot()
    back = now()
    wait_ticks(read, back + 5, 5, 60, "fires after the dead host came back")
    scenario("cluster: dead host back", read, lab.machines, APP, back, back, now() - 1)

    # A partition: the leader cannot reach Redis for three lease lifetimes, then can again.
    leader = _leader(lab, now() - 3)
    namespace = by_name[leader].namespace
    fault = now()
    lab.network.ip_ns(namespace, "route", "add", "blackhole", f"{SUBNET}.1/32")
    wait_for(lambda: now() > fault + 3 * TTL, 4 * TTL, "the partition to last three TTLs", interval=0.5)
    cut_off = [f for f in ticks(read()) if f["node"] == leader and float(f["started"]) > fault + TTL]
    assert not cut_off, f"the partitioned leader still ran fires a TTL after it lost Redis: {cut_off[:3]}"
    lab.network.ip_ns(namespace, "route", "del", "blackhole", f"{SUBNET}.1/32")
    healed = now()
    wait_ticks(read, healed + TTL, 5, 60, "fires after the partition healed")
    scenario("cluster: leader partitioned 3 TTL", read, lab.machines, APP, fault - 2, fault, now() - 1, leader)

    # The leader's link gets slow and lossy for a minute: 200 ms +- 100 ms each way, and 5% of
    # chunks wait a retransmission timeout more.
    leader = _leader(lab, now() - 3)
    fault = now()
    controls[leader].write_text(json.dumps({"delay": 0.2, "jitter": 0.1, "loss": 0.05}))
    wait_for(lambda: now() > fault + 60, 70, "a minute of a bad link", interval=1)
    controls[leader].write_text("{}")
    wait_ticks(read, now(), 5, 60, "fires after the link recovered")
    name = "cluster: leader link 200ms+-100ms, 5% loss, 60 s"
    slow = scenario(name, read, lab.machines, APP, fault, fault, now() - 1)
    assert slow["fires"] >= 50, slow

    # The Redis host reboots (a clean shutdown; appendfsync always keeps every claim).
    fault = now()
    redis.poweroff()
    redis.boot()
    wait_ticks(read, now() + 2, 5, 90, "fires after the Redis host rebooted")
    scenario("cluster: redis host rebooted", read, lab.machines, APP, fault - 2, fault, now() - 1)

    # Over the whole run: no second twice, in any host's log.
    every = scenario("cluster: whole run", read, lab.machines, APP, start + 1, start, now() - 1)
    assert every["fires"] > 100, every


def test_three_hosts_one_postgres_every_second_once_through_failures(lab: Lab) -> None:
    postgres = _postgres_host(lab)
    hosts = [lab.host(name, number) for name, number in APP_HOSTS.items()]
    url = f"postgresql://{PG_ROLE}:{PG_PASSWORD}@{PG_HOST}:5432/{PG_DATABASE}"
    with ThreadPoolExecutor(len(hosts)) as pool:
        outputs = list(pool.map(lambda host: _deploy(lab, host, "POSTGRES", url, PG_PASSWORD), hosts))
    assert any("scheduler role leader" in output for output in outputs), outputs
    by_name = {host.name: host for host in hosts}

    def read() -> list[Fire]:
        return lab.fires()

    start = now()
    wait_ticks(read, start, 10, 60, "10 seconds of fires")
    steady = scenario("cluster (postgres): steady", read, lab.machines, APP, start + 1, start, now() - 1)
    assert len(steady["nodes"]) == 1, steady

    # The leader's host reboots: its service releases the lease on the way down and NOTIFY wakes
    # a standby at once, well before the lease would have run out.
    leader = _leader(lab, now() - 3)
    fault = now()
    by_name[leader].poweroff()
    wait_ticks(read, fault + 1, 5, 60, "fires after the leader's host powered off")
    name = "cluster (postgres): leader host reboot"
    off = scenario(name, read, lab.machines, APP, fault - 2, fault, now() - 1, leader)
    assert off["first_fire_after_fault_s"] is not None and off["first_fire_after_fault_s"] < TTL, off
    by_name[leader].boot()

    # kill -9 of every process of the leader's unit: systemd starts it again, and the lease
    # passes on only once it has run out.
    leader = _leader(lab, now() - 3)
    fault = now()
    _kill_unit(by_name[leader])
    wait_ticks(read, fault + 2 * TTL, 5, 60, "fires after the leader's unit was killed")
    killed = scenario("cluster (postgres): leader unit kill -9", read, lab.machines, APP, fault - 2, fault, now() - 1)
    assert killed["first_fire_after_fault_s"] is not None and killed["first_fire_after_fault_s"] < 2 * TTL + 3, killed

    # PostgreSQL restarts (a fast shutdown: every connection is cut; nothing committed is lost).
    (instance,) = [p.name for p in postgres.file("/etc/postgresql").iterdir()]
    fault = now()
    postgres.run(["systemctl", "restart", f"postgresql@{instance}-main"])
    wait_ticks(read, now() + 1, 5, 60, "fires after PostgreSQL restarted")
    scenario("cluster (postgres): postgresql restarted", read, lab.machines, APP, fault - 2, fault, now() - 1)

    # Every connection of the leader's host is terminated by the server (pg_terminate_backend).
    leader = _leader(lab, now() - 3)
    fault = now()
    address = f"{SUBNET}.{APP_HOSTS[leader]}"
    ended = _psql(
        postgres, f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE client_addr = '{address}'"
    )
    assert int(ended) > 0, f"the leader {leader} had no connection to PostgreSQL to terminate"
    wait_ticks(read, now() + 1, 5, 60, "fires after the leader's connections were terminated")
    name = "cluster (postgres): leader's connections terminated"
    scenario(name, read, lab.machines, APP, fault - 2, fault, now() - 1)

    every = scenario("cluster (postgres): whole run", read, lab.machines, APP, start + 1, start, now() - 1)
    assert every["fires"] > 30, every
