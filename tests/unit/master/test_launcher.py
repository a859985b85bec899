"""The gunicorn master's side (scheduler_proc/master/launcher.py) with gunicorn's own Config, Logger
and Pidfile standing in for its Arbiter, and this test process as the master: bad settings stop
gunicorn before it serves (its pidfile gone), SCHEDULER_ENABLED=false starts nothing, stop signals
chain to gunicorn's handlers, and a check that raises never breaks gunicorn's main loop. With real
supervisors (marked ``processes``): a valid jobs module starts one, a killed one is replaced from
the main loop's tick, a jobs module that does not load refuses the start with its reason.
Whole gunicorn masters: tests/integration/test_single_host.py."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from pathlib import Path
from types import FrameType

import pytest
from support import alive, wait_for

from scheduler_proc.master.launcher import Arbiter, MasterSide, _MainLoopTick
from scheduler_proc.settings import Settings

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


def test_a_bad_setting_stops_gunicorn_before_it_serves_and_removes_its_pidfile(
    environ: dict[str, str], server: Arbiter, side: MasterSide, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCHEDULER_LEASE_TTL", "soon")
    with pytest.raises(RuntimeError, match=r"^scheduler: .*SCHEDULER_LEASE_TTL"):
        side.on_starting(server)
    assert not Path(server.cfg.chdir, "gunicorn.pid").exists()
    assert side.handle is None and side.settings is None


def test_a_lock_directory_others_may_write_is_refused(
    environ: dict[str, str], server: Arbiter, side: MasterSide, tmp_path: Path
) -> None:
    lock_dir = Path(environ["SCHEDULER_LOCK_DIR"])
    lock_dir.mkdir()
    os.chmod(lock_dir, 0o777)
    with pytest.raises(RuntimeError, match=r"^scheduler: .*SCHEDULER_LOCK_DIR"):
        side.on_starting(server)
    assert side.handle is None


def test_a_disabled_scheduler_starts_nothing_and_its_hooks_do_nothing(
    environ: dict[str, str],
    server: Arbiter,
    side: MasterSide,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("SCHEDULER_ENABLED", "false")
    with caplog.at_level(logging.INFO):
        side.on_starting(server)
    assert "scheduler: SCHEDULER_ENABLED is false; no scheduler on this host" in caplog.messages
    side.when_ready(server)
    assert not isinstance(server.manage_workers, _MainLoopTick)  # nothing to watch
    side.on_reload(server)
    side.on_exit(server)
    assert side.handle is None and side.settings is None
    assert not Path(environ["SCHEDULER_LOCK_DIR"]).exists()


def test_a_stop_signal_reaches_gunicorns_own_handler_after_the_scheduler(server: Arbiter, side: MasterSide) -> None:
    got: list[int] = []

    def gunicorns(signum: int, frame: FrameType | None) -> None:
        got.append(signum)

    for sig in STOP_SIGNALS:
        signal.signal(sig, gunicorns)
    side.when_ready(server)
    for sig in STOP_SIGNALS:
        handler = signal.getsignal(sig)
        assert callable(handler) and handler is not gunicorns
        handler(sig, None)  # as Python would call it, without sending the signal to pytest
    assert got == list(STOP_SIGNALS)


def test_the_main_loops_turn_still_manages_workers_when_the_check_raises(caplog: pytest.LogCaptureFixture) -> None:
    managed: list[int] = []
    checks: list[int] = []

    def check() -> None:
        checks.append(1)
        if len(checks) == 1:
            raise OSError("pidfd gone")

    tick = _MainLoopTick(lambda: managed.append(1), check, logging.getLogger("gunicorn.test"))
    with caplog.at_level(logging.ERROR, logger="gunicorn.test"):
        tick()
        tick()
    assert (len(managed), len(checks)) == (2, 2)
    [record] = caplog.records
    assert record.getMessage() == "scheduler: checking the supervisor failed" and record.exc_info is not None


# --- with real supervisors ------------------------------------------------------------------------
@pytest.mark.processes
def test_a_supervisor_killed_with_9_is_replaced_from_the_main_loop_and_stopped_at_exit(
    environ: dict[str, str], server: Arbiter, side: MasterSide, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        side.on_starting(server)
        assert side.handle is not None and isinstance(side.settings, Settings) and side.grace == 2.0
        first = side.handle.pid
        side.when_ready(server)
        side.when_ready(server)  # twice (a USR2 child's hooks, say): still one check per turn
        assert isinstance(server.manage_workers, _MainLoopTick)
        assert not isinstance(server.manage_workers._manage_workers, _MainLoopTick)
        os.kill(first, signal.SIGKILL)

        def replaced() -> int | None:
            server.manage_workers()  # gunicorn's main loop turns about once a second
            handle = side.handle
            return handle.pid if handle is not None and handle.pid != first else None

        second = wait_for(replaced, 15, "a new supervisor in place of the killed one", interval=0.2)
        assert alive(second)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(first, signal.SIGKILL)  # the killed one's runner, if its parent-death stop is slow
        side.on_exit(server)
    assert side.handle is None and not alive(second)
    ended = [m for m in caplog.messages if f"supervisor pid {first} ended without being asked to" in m]
    assert ended and f"scheduler: supervisor pid {second} started in its place" in caplog.messages


@pytest.mark.processes
def test_a_jobs_module_that_does_not_load_refuses_the_start_with_its_reason(
    environ: dict[str, str], server: Arbiter, side: MasterSide, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCHEDULER_JOBS", "raises_on_import:jobs")
    with pytest.raises(RuntimeError, match=r"^scheduler: .*importing the module raised KeyError: 'missing-key'"):
        side.on_starting(server)
    assert side.handle is None and not Path(server.cfg.chdir, "gunicorn.pid").exists()
