"""The records the backends speak (scheduler_proc/coordination/records.py): runs and their history
entries, fire identities in microseconds, commands and their answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from scheduler_proc.coordination import unreadable
from scheduler_proc.coordination.records import (
    Command,
    HistoryLimits,
    Run,
    from_micros,
    newest_first,
    parse_ack,
    parse_history,
    to_micros,
)
from scheduler_proc.formats.history import encode_run
from scheduler_proc.formats.vocabulary import RunOutcome

AT = datetime(2026, 12, 4, 9, 0, 0, 123456, tzinfo=UTC)


def _run(run_id: str, at: datetime = AT, outcome: RunOutcome = "success") -> Run:
    return Run("j", run_id, at, "web-1", 7, "schedule", at.timestamp(), at.timestamp() + 1.5, outcome, None, 2)


def test_a_run_survives_its_history_entry_and_says_its_duration() -> None:
    run = _run("r1")
    assert parse_history("j", [encode_run(run.to_dict())]) == [run] and run.duration == 1.5


def test_history_entries_that_are_no_runs_are_left_out_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    unreadable.readable("history:j")
    good = encode_run(_run("r1").to_dict())
    stored = json.loads(good)
    wrong_type = json.dumps({**stored, "term": "seven"})
    later_word = json.dumps({**stored, "outcome": "vanished"})  # a later version's outcome: no crash
    entries = [good, "{not json", "[1]", wrong_type, later_word]
    for _ in range(3):
        assert [run.run_id for run in parse_history("j", entries)] == ["r1"]
    [record] = [r for r in caplog.records if r.name == "scheduler.data"]
    assert "4 history entries of job 'j' cannot be read; left out" in record.getMessage()


def test_microseconds_are_exact_whatever_the_zone() -> None:
    assert from_micros(to_micros(AT)) == AT
    elsewhere = AT.astimezone(timezone(timedelta(hours=-5)))
    assert to_micros(elsewhere) == to_micros(AT) == 1_796_374_800_123_456


def test_merged_histories_are_newest_first_and_bounded() -> None:
    runs = [_run(f"r{i}", AT + timedelta(seconds=i)) for i in (3, 1, 2)]
    assert [run.run_id for run in newest_first(runs, 2)] == ["r3", "r2"]
    assert HistoryLimits(succeeded=2, other=5).limit_for("success") == 2
    assert HistoryLimits(succeeded=2, other=5).limit_for("abandoned") == 5


def test_a_manual_fire_has_an_odd_microsecond_so_it_never_meets_a_scheduled_one() -> None:
    for issued in (1_796_374_800.0, 1_796_374_800.1, 1_796_374_800.123457):
        fire = Command("c", "run", "j", issued).manual_fire_time()
        assert fire.microsecond % 2 == 1 and abs(fire.timestamp() - issued) < 1e-5
    assert Command("c", "run", "j", 1.0, cursor="a") == Command("c", "run", "j", 1.0, cursor="b")


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ('{"ok": true, "job_id": "j"}', {"ok": True, "job_id": "j"}),
        ('{"ok": "yes"}', {"ok": False, "error": "the leader's answer could not be read"}),
        ("[true]", {"ok": False, "error": "the leader's answer could not be read"}),
        ("", {"ok": False, "error": "the leader's answer could not be read"}),
    ],
)
def test_an_answer_is_read_or_called_unreadable(text: str, answer: dict[str, object]) -> None:
    assert parse_ack(text) == answer
