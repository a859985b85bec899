"""The settings' declarations (scheduler_proc/variables.py) against the code, the docs and the deploy tool."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support import ROOT, deploy_module

from scheduler_proc import settings, variables
from scheduler_proc.settings import KNOWN_VARIABLES, Settings
from scheduler_proc.variables import FromEnv, Setting
from scripts import settings_docs

NAME = re.compile(r"SCHEDULER_[A-Z0-9_]*[A-Z0-9]")


def test_the_docs_tables_and_the_env_file_are_generated_from_the_declarations() -> None:
    for path, committed, generated in settings_docs.generated():
        problem = settings_docs.differences(path, committed, generated)
        assert not problem, problem


def test_a_stale_table_names_the_setting_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    changed = dataclasses.replace(variables.LEASE_TTL, help="a new meaning")
    monkeypatch.setattr(variables, "ALL", tuple(changed if s is variables.LEASE_TTL else s for s in variables.ALL))
    problems = [settings_docs.differences(path, old, new) for path, old, new in settings_docs.generated()]
    assert len(problems) == 2
    for problem in problems:
        first = problem.splitlines()[0]
        assert re.fullmatch(
            r"\S+ differs from scheduler_proc/variables.py for SCHEDULER_LEASE_TTL; .*`make settings-docs`", first
        )
        assert "a new meaning" in problem


def test_every_declaration_is_listed_once_and_named_after_its_variable() -> None:
    declared = {attribute: value for attribute, value in vars(variables).items() if isinstance(value, Setting)}
    assert sorted(id(s) for s in declared.values()) == sorted(id(s) for s in variables.ALL), "a Setting not in ALL"
    assert len(set(KNOWN_VARIABLES)) == len(KNOWN_VARIABLES)
    for attribute, setting in declared.items():
        assert setting.name == variables.PREFIX + attribute, f"{attribute} declares {setting.name}"
        assert setting.help and "|" not in setting.help and "\n" not in setting.help, setting.name
        if isinstance(setting.default, FromEnv):
            assert setting.doc_default, f"{setting.name}: say in doc_default what the computed default is"


def test_from_env_reads_every_declared_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    read: list[str] = []
    original = settings._Reader.get

    def spy(self: Any, setting: Setting[Any]) -> Any:
        read.append(setting.name)
        return original(self, setting)

    monkeypatch.setattr(settings._Reader, "get", spy)
    Settings.from_env({"SCHEDULER_REDIS_URL": "redis://127.0.0.1:6379/0", "HOME": str(tmp_path)})
    Settings.from_env({"SCHEDULER_POSTGRES_URL": "postgresql://127.0.0.1/app", "HOME": str(tmp_path)})
    assert set(read) == set(KNOWN_VARIABLES), set(KNOWN_VARIABLES) ^ set(read)


def test_each_default_is_the_declared_one(tmp_path: Path) -> None:
    env = {"SCHEDULER_REDIS_URL": "redis://127.0.0.1:6379/0", "HOME": str(tmp_path), "SCHEDULER_NODE_ID": "n"}
    built = Settings.from_env(env)
    assert built.redis is not None
    assert (built.max_workers, built.history_size, built.log_format) == (10, 100, "plain")
    assert (built.redis.lease_ttl, built.redis.wait_timeout, built.redis.cluster) == (10.0, 0.1, False)
    assert built.stop_grace is None and built.ready_file is None and built.admin_token is None
    assert built.state_dir == tmp_path / ".local/state/scheduler_proc"


def test_every_scheduler_name_in_the_code_and_the_docs_is_declared() -> None:
    places = [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "gunicorn.conf.py", ROOT / "Makefile"]
    for folder in ("scheduler_proc", "app", "deploy", "bench", "scripts", "docs"):
        places += [path for path in (ROOT / folder).rglob("*") if path.is_file() and "__pycache__" not in path.parts]
    unknown = {
        f"{name} ({path.relative_to(ROOT)})"
        for path in places
        for name in NAME.findall(path.read_text(errors="replace"))
        if name not in KNOWN_VARIABLES
    }
    assert not unknown, f"not declared in scheduler_proc/variables.py: {sorted(unknown)}"


def test_deploy_checks_the_stop_grace_with_its_declaration(tmp_path: Path) -> None:
    deploy_tool = deploy_module()

    layout = deploy_tool.Layout(tmp_path, "demo")
    layout.etc.mkdir(parents=True)
    layout.env_file.write_text("SCHEDULER_STOP_GRACE=-1\n")
    expected = r"/etc/demo/env: SCHEDULER_STOP_GRACE='-1' is invalid: use a number of seconds from 0 to 86400; fix"
    with pytest.raises(deploy_tool.DeployError, match=expected):
        deploy_tool.install_unit(layout, False)
    layout.env_file.write_text("GRACEFUL_TIMEOUT=20\nSCHEDULER_STOP_GRACE=7\n")
    deploy_tool.install_unit(layout, False)
    assert "TimeoutStopSec=42\n" in layout.unit.read_text()  # 20 + 7 + 15


@pytest.mark.processes
def test_deploy_needs_only_the_standard_library() -> None:
    # -E -s -S: no site-packages, no PYTHON* variables: what the system Python has, with the
    # checkout (the current directory, as `python -m deploy` runs there) as the only other path.
    result = subprocess.run(
        [sys.executable, "-E", "-s", "-S", "-B", "-m", "deploy", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
