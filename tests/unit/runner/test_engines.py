"""TermEngines: an engine while this node leads (single host: while it holds the host lock), retired after."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis_support import RedisServer
from support import wait_for

from scheduler_proc import Jobs
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


def test_an_engine_that_could_not_resume_leaves_no_thread_behind(tmp_path: Path, redis_server: RedisServer) -> None:
    """The lease is still ours by our clock when Redis goes away: each turn of the loop makes an engine whose
    start fails. Its job threads and record writer must end with it, or every turn leaks max_workers + 1."""
    settings = single_host_settings(tmp_path, SCHEDULER_REDIS_URL=redis_server.url, SCHEDULER_MAX_WORKERS="3")
    lock = HostLock(settings.lock_path, "n", 0)
    assert lock.try_acquire()
    backend = open_backend(settings, lock, Metrics("n"))
    engines = TermEngines(settings, two_jobs(), lock, threading.Event(), Watchdog(30), Metrics("n"), lambda: None)
    engines.backend = backend
    try:
        backend.leadership.tick()  # acquires the lease (no keeper thread: nothing renews it)
        assert backend.leadership.current_term() is not None
        redis_server.kill()
        before = set(threading.enumerate())
        for _ in range(3):
            assert not engines.follow(backend) and engines.engine is None
        assert backend.leadership.current_term() is not None  # still leading by our clock: the loop tries again

        def left_behind() -> list[str]:
            return sorted(thread.name for thread in set(threading.enumerate()) - before)

        wait_for(lambda: not left_behind() or None, 5, "the failed engines' threads to end")
    finally:
        engines.retire()
        lock.release()
        backend.ledger.close()


def test_a_retired_engine_is_let_go_once_its_runs_ended_and_are_recorded(tmp_path: Path) -> None:
    """Each term ends in a retired engine; one kept for good (with its record writer's thread) per lost lease
    grows without bound on a node that leads again and again. It goes once nothing of it can run or record."""
    settings = single_host_settings(tmp_path)
    lock, release = HostLock(settings.lock_path, "n", 0), threading.Event()
    jobs = Jobs()

    @jobs.every(hours=1, id="slow")
    def slow() -> None:
        release.wait(10)

    backend = open_backend(settings, lock, Metrics("n"))
    engines = TermEngines(settings, jobs, lock, threading.Event(), Watchdog(30), Metrics("n"), lambda: None)
    engines.backend = backend
    try:
        assert lock.try_acquire() and engines.follow(backend) and engines.engine is not None
        first = engines.engine
        assert first.run_now("slow", datetime.now(UTC)).outcome == "ran"
        lock.release()
        assert not engines.follow(backend) and engines.retired == [first]
        for _ in range(3):  # its job still runs: it stays, to be waited for (and recorded) at a stop
            assert not engines.follow(backend) and engines.retired == [first]
        release.set()

        def let_go() -> bool:
            engines.follow(backend)
            return not engines.retired

        wait_for(let_go, 5, "the retired engine to be let go once its run ended")
        [run] = backend.ledger.history("slow", 10)
        assert run.outcome == "success"  # recorded before it went
    finally:
        release.set()
        engines.retire()
        lock.release()
        backend.ledger.close()
