"""TermEngines: an engine while this node leads (single host: while it holds the host lock), retired after."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from scheduler_proc.coordination.backend import Backend, open_backend
from scheduler_proc.coordination.local.hostlock import HostLock
from scheduler_proc.runner.engines import TermEngines
from scheduler_proc.runner.metrics import Metrics
from scheduler_proc.runner.watchdog import Watchdog

from .runner_support import single_host_settings, two_jobs


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[TermEngines, Backend, HostLock, threading.Event]]:
    settings = single_host_settings(tmp_path)
    lock, stop = HostLock(settings.lock_path, "n", 0), threading.Event()
    backend = open_backend(settings, lock, Metrics("n"))
    engines = TermEngines(settings, two_jobs(), lock, stop, Watchdog(30), Metrics("n"), lambda: None)
    engines.backend = backend
    yield engines, backend, lock, stop
    engines.retire()
    lock.release()
    backend.ledger.close()


def test_an_engine_starts_with_the_host_lock_and_retires_without_it(
    setup: tuple[TermEngines, Backend, HostLock, threading.Event],
) -> None:
    engines, backend, lock, _ = setup
    assert not engines.follow(backend) and engines.engine is None and engines.dispatch_term() is None
    assert lock.try_acquire()
    assert engines.follow(backend) and engines.engine is not None
    assert not engines.follow(backend)  # the same term: the same engine
    term = engines.dispatch_term()
    assert term is not None and term.fencing_token is None and term.is_current()
    first = engines.engine
    lock.release()
    assert not engines.follow(backend)
    assert engines.engine is None and engines.retired == [first] and engines.all() == [first]


def test_no_term_to_dispatch_under_once_a_stop_was_asked(
    setup: tuple[TermEngines, Backend, HostLock, threading.Event],
) -> None:
    engines, backend, lock, stop = setup
    assert lock.try_acquire() and engines.follow(backend)
    stop.set()
    assert engines.dispatch_term() is None and engines.claimed_runs() == []
