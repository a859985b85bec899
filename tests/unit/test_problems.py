"""This process's troubles (scheduler_proc/problems.py): logged once per change, listed while they
last, merged by summary for the status."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from scheduler_proc import problems
from scheduler_proc.formats.status import Problem


@pytest.fixture(autouse=True)
def _no_troubles(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(problems, "_current", {})  # one list per process: each test starts with none
    yield


def test_a_trouble_is_logged_once_while_it_lasts_and_once_when_it_ends(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="scheduler.health"):
        for _ in range(3):
            problems.report("disk", "the state directory is full", "/var/lib/app is full: free space there")
        assert problems.current() == [
            {"summary": "the state directory is full", "detail": "/var/lib/app is full: free space there"}
        ]
        problems.report("disk", "the state directory is full", "/var/lib/app is full again: 0 bytes")  # changed
        assert problems.resolved("disk", "the state directory has room again")
        assert not problems.resolved("disk", "not logged: there was nothing to resolve")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("ERROR", "/var/lib/app is full: free space there"),
        ("ERROR", "/var/lib/app is full again: 0 bytes"),
        ("INFO", "the state directory has room again"),
    ]
    assert problems.current() == []


def test_current_keeps_the_order_and_leaves_out_the_keys_asked() -> None:
    problems.report("a", "first", "first in detail")
    problems.report("b", "second", "second in detail")
    assert [p["summary"] for p in problems.current()] == ["first", "second"]
    assert [p["summary"] for p in problems.current(excluding=("a",))] == ["second"]


def test_merged_lists_each_summary_once_with_its_first_detail() -> None:
    ours = [Problem(summary="full", detail="seen by the runner")]
    theirs = [Problem(summary="full", detail="seen by the web worker"), Problem(summary="read-only", detail="x")]
    assert problems.merged(ours, theirs) == [ours[0], theirs[1]]
