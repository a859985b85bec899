"""The coordination stores `make chaos` and `make bench` run the kit on: Redis and PostgreSQL.

Each store starts its servers, gives the kit's hosts the environment that points them at it,
and carries out the faults a store can suffer. ``--backend`` picks one or both
(``add_backend_option``); reports name each by its label.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import time
from pathlib import Path

from pg_support import PostgresServer, remove_shared_memory, spawn_postmaster, stop_postmaster, wait_accepting
from redis_support import RedisServer, Sentinels
from support import wait_for

#: --backend's choices (besides ``both``) and how reports name each.
BACKENDS = {"redis": "Redis", "postgres": "PostgreSQL"}
#: The prefix of the application_name of every connection the kit makes (scheduler-proc/<node>/<purpose>).
KIT_APPLICATION = "scheduler-proc"


def add_backend_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=[*BACKENDS, "both"],
        default="both",
        help="the store the kit coordinates through: redis, postgres or both, one after the other (default both)",
    )


def chosen(backend: str) -> list[str]:
    """The backends ``--backend`` names, Redis first."""
    return list(BACKENDS) if backend == "both" else [backend]


class Redis:
    """The Redis under test: one server, or with ``sentinel`` a master, two replicas and three sentinels."""

    backend = "redis"
    label = BACKENDS["redis"]

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

    def pause(self, seconds: float) -> None:
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


class Postgres:
    """The PostgreSQL under test: one server (fsync on, the superuser's URL), with the faults that mirror Redis's.

    A pause stops the postmaster and every backend (SIGSTOP of its process group); a restart is
    a fast shutdown and a start, a crash restart an immediate shutdown (recovery on start);
    ``restart_from_snapshot`` brings back a copy of the data directory taken seconds before,
    as a restored volume snapshot would: the same cluster (system identifier and timeline),
    older rows and sequences.
    """

    backend = "postgres"
    label = BACKENDS["postgres"]

    def __init__(self, workdir: Path, log_statements: bool = False) -> None:
        self.server = PostgresServer(workdir / "postgres", log_statements=log_statements).start()

    def describe(self) -> str:
        [(version,)] = self.server.psql("SHOW server_version")
        return f"one real PostgreSQL {version}"

    def kit_env(self) -> dict[str, str]:
        return {"SCHEDULER_POSTGRES_URL": self.server.url}

    def pause(self, seconds: float) -> None:
        self.server.signal(signal.SIGSTOP)
        time.sleep(seconds)  # the fault is the pause itself
        self.server.signal(signal.SIGCONT)

    def restart(self) -> None:
        self.server.restart()

    def crash_restart(self) -> None:
        self.server.crash_restart()

    def terminate_kit_connections(self) -> int:
        """pg_terminate_backend of every connection the kit made; how many there were."""
        return self.server.terminate_backends(f"{KIT_APPLICATION}%")

    def restart_from_snapshot(self) -> float:
        """Crash, then start from a copy of the data directory taken 3 s before (claims made since are gone).

        The copy is taken with every server process stopped (SIGSTOP), so it is what a crash at
        that moment would have left on disk: the start recovers it from its WAL. Returns the
        seconds the server stood still for the copy (a stall of its own, on a loaded machine
        past the kit's socket timeout).
        """
        server = self.server
        snapshot = server.data.with_name("snapshot")
        shutil.rmtree(snapshot, ignore_errors=True)
        stopped = time.monotonic()
        server.signal(signal.SIGSTOP)
        try:
            subprocess.run(["cp", "-a", str(server.data), str(snapshot)], check=True)
        finally:
            server.signal(signal.SIGCONT)
            stopped = time.monotonic() - stopped
        for lock in ("postmaster.pid", f".s.PGSQL.{server.port}.lock", f".s.PGSQL.{server.port}"):
            (snapshot / lock).unlink(missing_ok=True)
        time.sleep(3)  # claims made now are the ones the restart forgets
        assert server.process is not None
        stop_postmaster(server.process, signal.SIGQUIT)
        remove_shared_memory(server.data)  # none after an immediate shutdown, unless it was cut short
        shutil.rmtree(server.data)
        snapshot.rename(server.data)
        server.process = spawn_postmaster(server.data, server.log)
        wait_accepting(server.process, server.data, server.port, server.log)
        return stopped

    def kill(self) -> None:
        self.server.kill()


Store = Redis | Postgres


def open_store(backend: str, workdir: Path, sentinel: bool = False) -> Store:
    """The store of ``backend``, started under ``workdir``; ``sentinel`` puts Sentinel before Redis (Redis only)."""
    return Postgres(workdir) if backend == "postgres" else Redis(workdir, sentinel)
