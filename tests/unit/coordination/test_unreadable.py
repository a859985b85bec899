"""Unreadable stored values (scheduler_proc/coordination/unreadable.py): logged once per key and per
value, anew after the key read well, shown short."""

from __future__ import annotations

import logging

import pytest

from scheduler_proc.coordination.unreadable import readable, report
from scheduler_proc.errors import UnreadableData
from scheduler_proc.formats.validate import shown


def test_each_key_and_value_is_logged_once_until_it_reads_well(caplog: pytest.LogCaptureFixture) -> None:
    readable("k1")
    with caplog.at_level(logging.WARNING, logger="scheduler.data"):
        for _ in range(3):
            report(UnreadableData("k1", "k1 holds 'x'"))
        report(UnreadableData("k1", "k1 holds 'y'"))  # another value: logged
        readable("k1")
        report(UnreadableData("k1", "k1 holds 'y'"))  # bad again after a good read: logged
    assert [r.getMessage() for r in caplog.records] == ["k1 holds 'x'", "k1 holds 'y'", "k1 holds 'y'"]
    readable("k1")


def test_a_value_is_shown_quoted_and_at_most_60_characters() -> None:
    assert shown("a\nb") == "'a\\nb'" and shown(42) == "'42'"
    assert len(shown("x" * 500)) == 62 and shown("x" * 500).endswith("...'")
