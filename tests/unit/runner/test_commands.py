"""Operator commands carried out on the leader (scheduler_proc/runner/commands.py), against a real
engine and SQLite ledger: pause and resume are remembered, a 'run now' runs once however often
it is carried out, and every refusal says why."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
from support import recording_jobs, wait_for

from scheduler_proc.coordination.local.ledger import LocalLedger
from scheduler_proc.coordination.records import COMMAND_TTL, Command
from scheduler_proc.coordination.term import Term
from scheduler_proc.formats.vocabulary import CommandAction
from scheduler_proc.runner.commands import apply
from scheduler_proc.runner.engine import Engine


@pytest.fixture
def leader(tmp_path: Path) -> Iterator[tuple[Engine, LocalLedger, list[object]]]:
    """An engine (not started: commands need no scheduler thread) of one job "t", always leading."""
    jobs, ran = recording_jobs()
    ledger = LocalLedger(tmp_path / "l.sqlite3", retention=3600)
    engine = Engine(jobs, ledger, "n", 30, 2, lambda: Term(None, lambda: True))
    yield engine, ledger, ran  # type: ignore[misc]
    engine.halt()
    ledger.close()


def test_pause_and_resume_are_stored_in_the_ledger(leader: tuple[Engine, LocalLedger, list[object]]) -> None:
    engine, ledger, _ = leader
    assert apply(Command.new("pause", "t"), engine, ledger) == {"ok": True, "job_id": "t", "paused": True}
    assert ledger.paused() == {"t"} and engine.snapshot()[0]["paused"]
    assert apply(Command.new("resume", "t"), engine, ledger) == {"ok": True, "job_id": "t", "paused": False}
    assert ledger.paused() == set() and not engine.snapshot()[0]["paused"]


def test_a_run_now_runs_once_even_when_the_same_command_is_carried_out_twice(
    leader: tuple[Engine, LocalLedger, list[object]],
) -> None:
    engine, ledger, ran = leader
    command = Command.new("run", "t")
    first = apply(command, engine, ledger)
    assert first["ok"] and first["result"] == "ran" and first["scheduled_at"] == command.manual_fire_time().isoformat()
    wait_for(lambda: ran == [command.manual_fire_time()], 5, "the manual fire to run")
    again = apply(command, engine, ledger)  # a failover mid-way hands the command to the next leader
    assert (again["ok"], again["result"]) == (True, "already-ran"), again  # not an error: it did run
    assert again["reason"] == "this command was carried out before (its fire is claimed)"
    assert ran == [command.manual_fire_time()]


# Ages, not times: a time taken at collection can be long past when a loaded machine runs the test.
@pytest.mark.parametrize(
    ("action", "job_id", "age", "error"),
    [
        ("pause", "nope", 0.0, "unknown job 'nope'"),
        # Built in code, so no decoder refused it: the engine still names it.
        ("stop", "t", 0.0, "unknown action 'stop'; use one of run, pause, resume"),
        ("run", "t", COMMAND_TTL + 1, f"the command expired after {COMMAND_TTL:g}s without a leader to take it"),
    ],
)
def test_refusals_say_why(
    leader: tuple[Engine, LocalLedger, list[object]], action: str, job_id: str, age: float, error: str
) -> None:
    engine, ledger, ran = leader
    command = Command("c1", cast(CommandAction, action), job_id, time.time() - age)
    assert apply(command, engine, ledger) == {"ok": False, "error": error}
    assert ran == [] and ledger.paused() == set()
