"""Real redis-server and redis-sentinel processes on loopback, started and stopped by tests."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import threading
from functools import partial
from pathlib import Path
from types import TracebackType

import redis
from support import free_port, wait_for

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_SENTINEL = shutil.which("redis-sentinel") or "/usr/bin/redis-sentinel"


class StandInLeader:
    """A leader that is not the kit's: holds ``key`` and renews it 4 times per TTL, as the kit's does.

    Standbys then watch a live lease whose expiry keeps moving, as in a cluster. ``renewals``
    counts its commands and ``port`` is its one connection's port (as MONITOR shows it), so
    a count of Redis commands can leave them out.
    """

    def __init__(self, server: RedisServer, key: str, ttl: float = 10.0, holder: str = "999:elsewhere:other-host"):
        self._client = server.client()
        self._key, self._ttl_ms, self._holder = key, int(ttl * 1000), holder
        self._every = ttl / 4
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._renew_until_stopped, daemon=True)
        self.renewals = 0
        self.port = ""

    def __enter__(self) -> StandInLeader:
        self._renew()
        self.port = str(self._client.client_info()["addr"]).rsplit(":", 1)[1]  # the same connection renews
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stopped.set()
        self._thread.join()
        self._client.close()

    def _renew(self) -> None:
        self._client.set(self._key, self._holder, px=self._ttl_ms)
        self.renewals += 1

    def _renew_until_stopped(self) -> None:
        while not self._stopped.wait(self._every):
            self._renew()


class RedisServer:
    """One redis-server without persistence: a restart loses its data, unless a test took a snapshot.

    ``extra`` holds more ``--option value`` arguments (``["--maxmemory-policy", "allkeys-lru"]``).
    """

    def __init__(
        self,
        directory: Path,
        password: str | None = None,
        replica_of: int | None = None,
        extra: list[str] | None = None,
    ) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.password = password
        self.replica_of = replica_of
        self.extra = extra or []
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1", port=self.port, password=self.password, socket_timeout=1, decode_responses=True
        )

    def start(self) -> RedisServer:
        args = [
            REDIS_SERVER,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.dir),
            "--protected-mode",
            "no",
            "--repl-diskless-sync-delay",  # a replica is in sync at once, not after the default 5 s
            "0",
        ]
        if self.password:
            args += ["--requirepass", self.password, "--masterauth", self.password]
        if self.replica_of:
            args += ["--replicaof", "127.0.0.1", str(self.replica_of)]
        args += self.extra
        with open(self.dir / "redis.log", "ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self._answers, 10, f"redis-server on port {self.port}")
        return self

    def _answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def signal(self, sig: int) -> None:
        assert self.process is not None
        os.kill(self.process.pid, sig)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart_empty(self) -> None:
        """Kill and start again on the same port: Redis comes back with no data."""
        (self.dir / "dump.rdb").unlink(missing_ok=True)
        self.kill()
        self.start()

    def snapshot(self) -> None:
        """Write the data as it is now to dump.rdb, which the next start loads."""
        self.client().save()

    def restart_from_snapshot(self) -> None:
        """kill -9, then start again from the last snapshot: Redis comes back with older data."""
        assert (self.dir / "dump.rdb").exists(), "take a snapshot first"
        self.kill()
        self.start()


class Sentinels:
    """Three redis-sentinel processes watching one master (down after 1 s)."""

    def __init__(self, directory: Path, master_port: int, name: str = "mymaster") -> None:
        self.dir = directory
        self.name = name
        self.ports = [free_port() for _ in range(3)]
        self.master_port = master_port
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def spec(self) -> str:
        return ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def start(self) -> Sentinels:
        self.dir.mkdir(parents=True, exist_ok=True)
        for port in self.ports:
            conf = self.dir / f"sentinel-{port}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\nprotected-mode no\ndir {self.dir}\n"
                f"sentinel monitor {self.name} 127.0.0.1 {self.master_port} 2\n"
                f"sentinel down-after-milliseconds {self.name} 1000\n"
                f"sentinel failover-timeout {self.name} 3000\n"
                f"sentinel parallel-syncs {self.name} 1\n"
            )
            with open(self.dir / f"sentinel-{port}.log", "ab") as log:
                self.processes.append(
                    subprocess.Popen(
                        [REDIS_SENTINEL, str(conf)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                    )
                )
        for port in self.ports:
            wait_for(partial(self._knows_master, port), 10, f"sentinel {port}")
        return self

    def _knows_master(self, port: int) -> bool:
        try:
            client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1, decode_responses=True)
            return bool(client.sentinel_get_master_addr_by_name(self.name))
        except redis.RedisError:
            return False

    def master_port_now(self) -> int | None:
        with contextlib.suppress(redis.RedisError):
            client = redis.Redis(host="127.0.0.1", port=self.ports[0], socket_timeout=1, decode_responses=True)
            address = client.sentinel_get_master_addr_by_name(self.name)
            return int(address[1]) if isinstance(address, tuple) else None  # None: no master yet
        return None

    def kill(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait()


#: Cluster nodes listen below the ephemeral range (32768 and up on Linux), bus ports included
#: (port + 10000): a port free_port() handed out, or an outgoing connection of another test, took
#: a bus port between the check and the node's start, and that node never joined (a flaky failover).
_CLUSTER_PORTS = range(20000, 22768)


def _cluster_port() -> int:
    """A free port below the ephemeral range whose cluster bus port (port + 10000) is free too."""
    while True:
        port = random.choice(_CLUSTER_PORTS)
        if _free(port) and _free(port + 10000):
            return port


def _free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class RedisClusterServers:
    """A real Redis Cluster on loopback: ``masters`` primaries, each with ``replicas`` replicas.

    The cluster's node timeout is 1 s, so a replica takes over from a killed primary in a
    few seconds.
    """

    def __init__(self, directory: Path, masters: int = 3, replicas: int = 1) -> None:
        self.dir = directory
        self.servers = []
        for i in range(masters * (1 + replicas)):
            server = RedisServer(
                directory / f"node-{i}",
                extra=[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "1000",
                ],
            )
            server.port = _cluster_port()
            self.servers.append(server)
        self.replicas = replicas

    @property
    def url(self) -> str:
        return self.servers[0].url

    def start(self) -> RedisClusterServers:
        for server in self.servers:
            server.start()
        subprocess.run(
            [
                shutil.which("redis-cli") or "/usr/bin/redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{server.port}" for server in self.servers),
                "--cluster-replicas",
                str(self.replicas),
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        wait_for(self._ready, 30, "the Redis Cluster to be ready on every node")
        return self

    def _ready(self) -> bool:
        try:
            return all(server.client().cluster("info")["cluster_state"] == "ok" for server in self.servers)
        except redis.RedisError:
            return False

    def primary_for(self, key: str) -> RedisServer:
        """The server that is primary for ``key``'s slot now (asked of a live node)."""
        for server in self.servers:
            with contextlib.suppress(redis.RedisError):
                slot = server.client().cluster("keyslot", key)
                for start, end, primary, *_ in server.client().cluster("slots"):
                    if start <= slot <= end:
                        return next(s for s in self.servers if s.port == int(primary[1]))
        raise AssertionError(f"no live node knows the primary for {key!r}")

    def kill(self) -> None:
        for server in self.servers:
            server.kill()
