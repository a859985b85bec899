"""The highest lease term this node saw (scheduler_proc/coordination/local/nodestate.py), kept across
restarts in a private file so a node never asks for a term below one it already held."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from scheduler_proc.coordination.local.nodestate import TermMemory
from scheduler_proc.coordination.term import PLAUSIBLE_TERM


def test_the_highest_term_is_remembered_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "terms.json"
    memory = TermMemory(path)
    assert memory.highest == 0
    for term in (5, 9, 7):
        memory.saw(term)
    assert memory.highest == 9 and TermMemory(path).highest == 9
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert TermMemory(None).highest == 0


def test_a_term_no_counter_reaches_is_refused_and_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    memory = TermMemory(tmp_path / "terms.json")
    memory.saw(3)
    memory.saw(PLAUSIBLE_TERM + 1)
    memory.saw(PLAUSIBLE_TERM + 1)
    assert memory.highest == 3
    assert len([r for r in caplog.records if "refusing to remember lease term" in r.getMessage()]) == 1


@pytest.mark.parametrize("content", ['{"highest_term": -1}', '{"highest_term": true}', "not json", '{"x": 1}'])
def test_an_unreadable_record_starts_from_term_0(tmp_path: Path, content: str) -> None:
    (tmp_path / "terms.json").write_text(content)
    assert TermMemory(tmp_path / "terms.json").highest == 0
