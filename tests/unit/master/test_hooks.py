"""The four gunicorn hooks (scheduler_proc/master/hooks.py) keep their state in one MasterSide of an
imported module, so gunicorn's re-execution of its config on HUP loses nothing; started_the_scheduler
tells a forked worker whether they run the scheduler. Each test gets a MasterSide of its own in the
module, as a fresh gunicorn master would. Whole masters: tests/integration/test_single_host.py."""

from __future__ import annotations

import runpy

import pytest
from support import ROOT, alive

from scheduler_proc.master import hooks
from scheduler_proc.master.launcher import Arbiter, MasterSide


@pytest.fixture
def master(monkeypatch: pytest.MonkeyPatch, side: MasterSide) -> MasterSide:
    """The module's state as in a master that has not run a hook yet (conftest's ``side``, stopped after)."""
    monkeypatch.setattr(hooks, "_MASTER", side)
    return side


def test_no_scheduler_is_started_until_on_starting_starts_one(
    environ: dict[str, str], server: Arbiter, master: MasterSide, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert hooks.started_the_scheduler() is False
    monkeypatch.setenv("SCHEDULER_ENABLED", "false")
    hooks.on_starting(server)
    hooks.when_ready(server)
    hooks.on_reload(server)
    hooks.on_exit(server)
    assert hooks.started_the_scheduler() is False and master.handle is None


def test_a_bad_setting_in_on_starting_stops_gunicorn(
    environ: dict[str, str], server: Arbiter, master: MasterSide, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCHEDULER_ENABLED", "perhaps")
    with pytest.raises(RuntimeError, match=r"^scheduler: .*SCHEDULER_ENABLED"):
        hooks.on_starting(server)
    assert hooks.started_the_scheduler() is False


def test_the_config_file_run_again_finds_the_same_hooks_and_state(environ: dict[str, str], master: MasterSide) -> None:
    """gunicorn executes gunicorn.conf.py anew on HUP: what it takes from here is what the first run took."""
    first, again = runpy.run_path(str(ROOT / "gunicorn.conf.py")), runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    for name in ("on_starting", "when_ready", "on_reload", "on_exit"):
        assert first[name] is again[name] is getattr(hooks, name)
    assert hooks._MASTER is master


@pytest.mark.processes
def test_the_hooks_start_reload_and_stop_one_supervisor(
    environ: dict[str, str], server: Arbiter, master: MasterSide
) -> None:
    hooks.on_starting(server)
    assert hooks.started_the_scheduler() is True and master.handle is not None
    pid = master.handle.pid
    hooks.when_ready(server)
    hooks.on_reload(server)  # HUP for the supervisor: it reloads the jobs and keeps running
    assert master.handle is not None and master.handle.pid == pid and not master.handle.wait(1.0)
    hooks.on_exit(server)
    assert master.handle is None and not alive(pid)
    assert hooks.started_the_scheduler() is True  # the workers it forked still defer to it
