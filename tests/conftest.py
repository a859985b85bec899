"""Fixtures: simulated hosts (real gunicorn masters) that are always cleaned up."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest
from pg_support import PostgresServer
from redis_support import RedisServer
from store_support import PostgresKit, RedisKit, StoreKit
from stores import STORES, ClusterStore, make_store
from support import Host, HostFactory


@pytest.fixture
def hosts(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[HostFactory]:
    """Factory of hosts; on failure prints every host's output; kills all our processes after."""
    made: list[Host] = []

    def make(name: str = "node-a", jobs: str = "ticker:jobs", **kwargs: Any) -> Host:
        host = Host(tmp_path, name, jobs, **kwargs)
        made.append(host)
        return host

    yield make
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        for host in made:
            print(f"\n===== {host.name} output =====\n{host.output()}")
    for host in made:
        host.kill_everything()


@pytest.fixture(autouse=True)
def _secrets_of_this_test_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process remembers every secret its settings name, for good (one environment per process);
    the suite builds many, and an invalid token 'short' would mask the word in a later test."""
    from scheduler_proc import redact

    monkeypatch.setattr(redact, "_known", set())
    monkeypatch.setattr(redact, "_known_pattern", None)


#: Fixtures that start servers or processes; a test that uses one is marked ``processes``.
_PROCESS_FIXTURES = {
    "hosts",
    "redis_server",
    "store",
    "store_kind",
    "postgres_store",
    "sentinel_cluster",
    "redis_cluster",
    "served",
    "service_user",
    "postgres_server",
    "ledger_factory",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`make test-fast` runs what is left: the tests of pure logic."""
    for item in items:
        if _PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.processes)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pluggy.Result[pytest.TestReport], None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
    if report.failed:
        for host in _hosts_in(getattr(item, "funcargs", {})):
            tail = "\n".join(host.output().splitlines()[-_LOG_LINES_ON_FAILURE:])
            report.sections.append((f"{host.name} output, last {_LOG_LINES_ON_FAILURE} lines", tail))


#: A failing test that was given a host by a shared fixture (``served``) shows this much of its log.
_LOG_LINES_ON_FAILURE = 80


def _hosts_in(values: dict[str, Any]) -> list[Host]:
    """The hosts a test was given, alone or in a tuple (the ``hosts`` factory prints its own)."""
    found: list[Host] = []
    for value in values.values():
        found += [v for v in (value if isinstance(value, tuple) else (value,)) if isinstance(v, Host)]
    return found


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server on a loopback port, killed after the test."""
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.kill()


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ClusterStore]:
    """The cluster's store, started: the test runs once on Redis and once on PostgreSQL."""
    server = make_store(request.param, tmp_path / request.param)
    server.start()
    yield server
    server.kill()


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    """Redis or PostgreSQL, for a test that makes (and starts) its store itself."""
    return str(request.param)


@pytest.fixture
def postgres_server(tmp_path: Path) -> Iterator[PostgresServer]:
    """A real PostgreSQL server on a loopback port (superuser ``postgres``, database ``scheduler``),
    killed after the test; its log stays in tmp_path/postgres."""
    with PostgresServer(tmp_path / "postgres") as server:
        yield server


@pytest.fixture(params=STORES)
def ledger_factory(request: pytest.FixtureRequest) -> Iterator[StoreKit]:
    """Ledgers, buses and the lease on a real Redis, then on a real PostgreSQL: a test of the
    Ledger or CommandBus interface runs against both cluster stores."""
    kit: StoreKit
    if request.param == "redis":
        kit = RedisKit(request.getfixturevalue("redis_server"))
    else:
        kit = PostgresKit(request.getfixturevalue("postgres_server"))
    yield kit
    kit.close()
