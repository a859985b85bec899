"""CommandServer: the leader carries out operators' commands from the bus and answers each one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import wait_for

from scheduler_proc.coordination.backend import Backend, open_backend
from scheduler_proc.coordination.local.hostlock import HostLock
from scheduler_proc.coordination.records import Command
from scheduler_proc.runner.command_server import CommandServer
from scheduler_proc.runner.engine import Engine
from scheduler_proc.runner.metrics import Metrics

from .runner_support import CURRENT, single_host_settings, two_jobs


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[Backend]:
    settings = single_host_settings(tmp_path)
    opened = open_backend(settings, HostLock(settings.lock_path, "n", 0), Metrics("n"))
    yield opened
    opened.ledger.close()


def test_commands_are_carried_out_and_answered(backend: Backend) -> None:
    engine = Engine(two_jobs(), backend.ledger, "n", 30, 1, lambda: CURRENT)
    pause, unknown = Command.new("pause", "t"), Command.new("pause", "nope")
    backend.bus.submit(pause)
    backend.bus.submit(unknown)
    CommandServer().serve_if_due(backend, engine)
    assert backend.bus.wait_ack(pause, 1) == {"ok": True, "job_id": "t", "paused": True}
    assert backend.bus.wait_ack(unknown, 1) == {"ok": False, "error": "unknown job 'nope'"}
    assert backend.ledger.paused() == {"t"}


def test_the_bus_is_read_at_most_every_fifth_of_a_second(backend: Backend) -> None:
    engine = Engine(two_jobs(), backend.ledger, "n", 30, 1, lambda: CURRENT)
    server = CommandServer()
    server.serve_if_due(backend, engine)
    resume = Command.new("resume", "t")
    backend.bus.submit(resume)
    server.serve_if_due(backend, engine)  # read moments ago: not yet
    assert backend.bus.wait_ack(resume, 0.01) is None

    def served() -> bool:
        server.serve_if_due(backend, engine)
        return backend.bus.wait_ack(resume, 0.01) is not None

    wait_for(served, 5, "the resume command answered")
