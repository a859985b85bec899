"""The gunicorn master's side in this test process: gunicorn's own Config, Logger and Pidfile stand in
for its Arbiter, with a scheduler's directories in tmp_path and the process state the hooks change
(stdout, stderr, the stop signals' handlers) put back after each test."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gunicorn.config import Config  # type: ignore[import-untyped]  # gunicorn ships no types
from gunicorn.glogging import Logger  # type: ignore[import-untyped]
from gunicorn.pidfile import Pidfile  # type: ignore[import-untyped]
from support import JOBSETS

from scheduler_proc.master.launcher import Arbiter, MasterSide

#: What the hooks' when_ready forwards to the supervisor, by handlers installed in the master.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


class Server:
    """The parts of gunicorn's Arbiter the hooks use, made of gunicorn's own pieces."""

    def __init__(self, cfg: Config, log: Logger, pidfile: Pidfile) -> None:
        self.cfg, self.log, self.pidfile, self.pid = cfg, log, pidfile, os.getpid()
        self.manage_workers: Callable[[], None] = lambda: None  # gunicorn calls it each turn of its loop


@pytest.fixture(autouse=True)
def _kept_process_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The hooks mask stdout/stderr and install signal handlers in the master: here, the test process."""
    monkeypatch.setattr(sys, "stdout", sys.stdout)
    monkeypatch.setattr(sys, "stderr", sys.stderr)
    handlers = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    yield
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


@pytest.fixture
def environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """SCHEDULER_* of a scheduler with its directories in tmp_path, and nothing else of the kind."""
    for name in list(os.environ):
        if name.startswith("SCHEDULER_"):
            monkeypatch.delenv(name)
    values = {
        "SCHEDULER_JOBS": "ticker:jobs",
        "SCHEDULER_NAMESPACE": "launcher",
        "SCHEDULER_LOCK_DIR": str(tmp_path / "run"),
        "SCHEDULER_STATE_DIR": str(tmp_path / "state"),
        "SCHEDULER_STOP_GRACE": "2",
        "FIRE_LOG": str(tmp_path / "fires.jsonl"),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def server(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Iterator[Arbiter]:
    """gunicorn's Arbiter as the hooks see it, its pidfile written, its error log captured by caplog."""
    cfg = Config()
    cfg.set("pythonpath", str(JOBSETS))
    cfg.set("chdir", str(tmp_path))
    log = Logger(cfg)
    log.error_log.addHandler(caplog.handler)  # gunicorn's error log does not propagate to the root
    pidfile = Pidfile(str(tmp_path / "gunicorn.pid"))
    pidfile.create(os.getpid())
    yield Server(cfg, log, pidfile)
    log.error_log.removeHandler(caplog.handler)


@pytest.fixture
def side(server: Arbiter) -> Iterator[MasterSide]:
    """A master side whose supervisor, if any is left, is stopped with its whole session."""
    master = MasterSide()
    yield master
    if master.handle is not None:
        pid = master.handle.pid
        master._stop(server, fast=True)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
