"""The FastAPI lifespan that runs the scheduler side without gunicorn (scheduler_proc/master/lifespan.py),
entered with asyncio.run in this test process as one uvicorn worker would: it stands aside under the
kit's gunicorn hooks, refuses a bad setting with one line and no traceback after it, starts nothing
when disabled; with real processes (marked ``processes``): the jobs module is checked in a fresh
interpreter, and the worker that holds the owner lock runs one supervisor until the lifespan ends.
Several uvicorn and fastapi workers competing: tests/integration/test_embedded.py."""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import JOBSETS, alive, wait_for

from scheduler_proc.master import hooks
from scheduler_proc.master.launcher import MasterSide
from scheduler_proc.master.lifespan import (
    StartRefused,
    _NoRefusalTraceback,
    jobs_problem,
    managed_by_gunicorn_hooks,
    scheduler_lifespan,
)
from scheduler_proc.settings import Settings


@pytest.fixture(autouse=True)
def _uvicorn_error_filters_kept() -> Iterator[None]:
    """A refusal puts a filter on uvicorn's error logger, for good in a worker; here, for one test."""
    errors = logging.getLogger("uvicorn.error")
    filters = list(errors.filters)
    yield
    errors.filters[:] = filters


def _enter_and_leave() -> None:
    async def lifespan() -> None:
        async with scheduler_lifespan():
            pass

    asyncio.run(lifespan())


def test_without_the_kits_hooks_in_this_process_the_lifespan_runs_the_scheduler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "scheduler_proc.master.hooks", raising=False)
    assert managed_by_gunicorn_hooks() is False
    monkeypatch.setitem(sys.modules, "scheduler_proc.master.hooks", hooks)
    monkeypatch.setattr(hooks, "_MASTER", MasterSide())
    assert managed_by_gunicorn_hooks() is False  # imported, but they started no scheduler


def test_in_a_worker_of_a_master_whose_hooks_run_the_scheduler_the_lifespan_stands_aside(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    master = MasterSide()
    master.settings = Settings.from_env()  # what on_starting leaves in the master its workers fork from
    monkeypatch.setattr(hooks, "_MASTER", master)
    monkeypatch.setenv("SCHEDULER_LEASE_TTL", "soon")  # not even read
    assert managed_by_gunicorn_hooks() is True
    _enter_and_leave()
    assert not Path(environ["SCHEDULER_LOCK_DIR"]).exists()


def test_a_bad_setting_refuses_the_start_with_one_line_and_no_traceback_after_it(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(hooks, "_MASTER", MasterSide())
    monkeypatch.setenv("SCHEDULER_LEASE_TTL", "soon")
    for _ in range(2):
        with pytest.raises(StartRefused, match=r"^scheduler: .*SCHEDULER_LEASE_TTL"):
            _enter_and_leave()
    refusals = [m for m in caplog.messages if m.endswith("; the server does not start")]
    assert len(refusals) == 2 and "SCHEDULER_LEASE_TTL" in refusals[0]
    errors = logging.getLogger("uvicorn.error")
    assert [type(f) for f in errors.filters].count(_NoRefusalTraceback) == 1  # once, however many refusals


def test_only_the_traceback_of_a_refusal_is_dropped_from_uvicorns_log() -> None:
    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, message, None, None)

    refusal = "Traceback (most recent call last):\n  ...\nStartRefused: scheduler: SCHEDULER_LEASE_TTL='soon'"
    drop = _NoRefusalTraceback()
    assert drop.filter(record(refusal)) is False
    assert drop.filter(record("Traceback (most recent call last):\n  ...\nValueError: boom")) is True
    assert drop.filter(record("Application startup failed. Exiting.")) is True


def test_a_disabled_scheduler_starts_nothing(environ: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hooks, "_MASTER", MasterSide())
    monkeypatch.setenv("SCHEDULER_ENABLED", "false")
    monkeypatch.setenv("SCHEDULER_JOBS", "raises_on_import:jobs")  # never checked
    _enter_and_leave()
    assert not Path(environ["SCHEDULER_LOCK_DIR"]).exists()


# --- with real processes --------------------------------------------------------------------------
@pytest.fixture
def jobsets_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fresh interpreters (scheduler-proc validate, the supervisor) find tests/jobsets."""
    monkeypatch.setenv("PYTHONPATH", str(JOBSETS))


@pytest.mark.processes
@pytest.mark.usefixtures("environ", "jobsets_importable")
def test_the_jobs_module_is_checked_in_a_fresh_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    assert jobs_problem() is None
    monkeypatch.setenv("SCHEDULER_JOBS", "raises_on_import:jobs")
    problem = jobs_problem()
    assert problem is not None and "importing the module raised KeyError: 'missing-key'" in problem
    assert "raises_on_import" not in sys.modules  # this worker imported nothing of it


@pytest.mark.processes
@pytest.mark.usefixtures("environ", "jobsets_importable")
def test_a_jobs_module_that_does_not_load_refuses_the_workers_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hooks, "_MASTER", MasterSide())
    monkeypatch.setenv("SCHEDULER_JOBS", "raises_on_import:jobs")
    with pytest.raises(StartRefused, match=r"^scheduler: .*importing the module raised KeyError"):
        _enter_and_leave()


@pytest.mark.processes
@pytest.mark.usefixtures("jobsets_importable")
def test_the_worker_holding_the_owner_lock_runs_one_supervisor_until_the_lifespan_ends(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(hooks, "_MASTER", MasterSide())
    started = re.compile(r"scheduler supervisor pid (\d+) started by worker \d+")

    def supervisor_pid() -> int | None:
        found = [started.search(m) for m in caplog.messages]
        return next((int(m[1]) for m in found if m), None)

    async def serve() -> int:
        async with scheduler_lifespan():
            # The lifespan's thread owns the supervisor; this worker's event loop has nothing to do meanwhile.
            pid = wait_for(supervisor_pid, 30, "the owner's supervisor to start")
            assert alive(pid) and Path(environ["SCHEDULER_LOCK_DIR"], "launcher.owner.lock").exists()
            return pid

    with caplog.at_level(logging.INFO, logger="scheduler"):
        pid = asyncio.run(serve())
    assert not alive(pid)
