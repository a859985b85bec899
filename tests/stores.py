"""The cluster's coordination store, Redis or PostgreSQL, behind one face: the cluster suite runs on both.

A test takes the ``store`` fixture (tests/conftest.py), parametrized over both backends, and
speaks only to this face: the nodes' environment, and the faults both stores can suffer
(paused, restarted, back from an older backup, connections cut). What only one store has
(Sentinel, Redis Cluster) stays in that store's own tests.
"""

from __future__ import annotations

import signal
import socket
from pathlib import Path
from typing import Literal, Protocol

from pg_support import DATABASE, PostgresServer
from redis_support import RedisServer

StoreName = Literal["redis", "postgres"]
STORES: tuple[StoreName, ...] = ("redis", "postgres")

#: The schema the PostgreSQL store's nodes keep their tables in, owned by the one role they log in as.
SCHEMA = "scheduler_test"
ROLE = "scheduler_app"
ROLE_PASSWORD = "app-secret-Pw1"


class ClusterStore(Protocol):
    """What the cluster suite does to a store."""

    name: StoreName
    label: str  # how the kit's log lines name it: "Redis" or "PostgreSQL"
    #: A line a node logs when the store came back with older data than the cluster acted on.
    lost_data_line: str

    def env(self) -> dict[str, str]:
        """The variables that put a node in cluster mode on this store."""
        ...

    @property
    def port(self) -> int:
        """The port it listens on (chosen when it was made, before it starts)."""
        ...

    def start(self) -> None: ...

    def pause(self) -> None:
        """SIGSTOP the server (every process of it): it neither answers nor refuses."""
        ...

    def resume(self) -> None: ...

    def keep_for_later(self) -> None:
        """Save the data as it is now: ``back_to_kept`` brings it back (an older backup)."""
        ...

    def back_to_kept(self) -> None:
        """Restart the store on the data ``keep_for_later`` saved: every claim since is gone."""
        ...

    def cut_connections(self) -> None:
        """Drop every client connection, as a proxy or an operator may (the server stays up)."""
        ...

    def floor_at(self) -> float | None:
        """The cluster's floor (epoch seconds), or None if none was set."""
        ...

    def kill(self) -> None: ...


class RedisStore:
    """A redis-server without persistence; its snapshot is the backup."""

    name: StoreName = "redis"
    label = "Redis"
    lost_data_line = "Redis lost its data"

    def __init__(self, directory: Path) -> None:
        self.server = RedisServer(directory)

    @property
    def port(self) -> int:
        return self.server.port

    def env(self) -> dict[str, str]:
        return {"SCHEDULER_REDIS_URL": self.server.url}

    def start(self) -> None:
        self.server.start()

    def pause(self) -> None:
        self.server.signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.server.signal(signal.SIGCONT)

    def keep_for_later(self) -> None:
        self.server.snapshot()

    def back_to_kept(self) -> None:
        self.server.restart_from_snapshot()

    def cut_connections(self) -> None:
        self.server.client().client_kill_filter(_type="normal", skipme=True)

    def floor_at(self) -> float | None:
        client = self.server.client()
        keys = client.keys("*:floor")
        at = client.hget(keys[0], "at") if keys else None
        return None if at is None else int(at) / 1000

    def kill(self) -> None:
        self.server.kill()


class PostgresStore:
    """A PostgreSQL server; the nodes log in as a role that owns only its schema. A dump is the backup."""

    name: StoreName = "postgres"
    label = "PostgreSQL"
    lost_data_line = "PostgreSQL's data is older"

    def __init__(self, directory: Path) -> None:
        self.server = PostgresServer(directory)
        self._role_made = False
        self._dump: Path | None = None

    @property
    def port(self) -> int:
        return self.server.port

    def env(self) -> dict[str, str]:
        url = f"postgresql://{ROLE}:{ROLE_PASSWORD}@127.0.0.1:{self.port}/{DATABASE}"
        return {"SCHEDULER_POSTGRES_URL": url, "SCHEDULER_POSTGRES_SCHEMA": SCHEMA}

    def start(self) -> None:
        self.server.start()
        if not self._role_made:
            self.server.app_role(ROLE, ROLE_PASSWORD, schema=SCHEMA)
            self._role_made = True

    def pause(self) -> None:
        self.server.signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.server.signal(signal.SIGCONT)

    def keep_for_later(self) -> None:
        self._dump = self.server.dump()

    def back_to_kept(self) -> None:
        assert self._dump is not None, "keep_for_later() first"
        self.server.restore(self._dump)

    def cut_connections(self) -> None:
        self.server.terminate_backends("scheduler-proc%")

    def floor_at(self) -> float | None:
        rows = self.server.psql(f"SELECT at_us FROM {SCHEMA}.floor")
        return int(rows[0][0]) / 1_000_000 if rows and rows[0][0] else None

    def kill(self) -> None:
        self.server.kill()


def make_store(name: StoreName, directory: Path) -> ClusterStore:
    """A store of that kind, not started."""
    return RedisStore(directory) if name == "redis" else PostgresStore(directory)


def hold_port(port: int) -> socket.socket:
    """Bind ``port`` without listening: connections are refused, as to a store that is down, and no
    other test's server can take the port meanwhile. Close it just before the store starts."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", port))
    return holder
