"""The documents the API and the CLI's --json give (scheduler_proc/web/answers.py): one time format."""

from __future__ import annotations

from datetime import datetime

from scheduler_proc.web.answers import iso, job_answer, run_answer, status_answer


def _is_iso_with_offset(value: object) -> bool:
    return isinstance(value, str) and datetime.fromisoformat(value).utcoffset() is not None


def test_unix_seconds_become_iso_8601_with_offset_and_other_values_stay() -> None:
    assert iso(0) == "1970-01-01T00:00:00.000000+00:00"
    assert iso(1_796_396_400.25) == "2026-12-04T15:00:00.250000+00:00"
    assert iso(None) is None and iso(True) is True and iso("2026-12-04T15:00:00+00:00") == "2026-12-04T15:00:00+00:00"


def test_a_status_document_its_cluster_view_and_recent_runs_all_carry_iso_times() -> None:
    run = {"run_id": "r", "started_at": 1_796_396_400.0, "finished_at": None, "duration": 1.5}
    status = {
        "node": "a",
        "updated_at": 1_796_396_401.0,
        "cluster": {"last_renewal_at": 1_796_396_400.5, "lease_age": 0.5},
        "recent_runs": [run],
    }
    answer = status_answer(status)
    assert _is_iso_with_offset(answer["updated_at"]) and _is_iso_with_offset(answer["cluster"]["last_renewal_at"])
    assert answer["cluster"]["lease_age"] == 0.5  # durations stay seconds
    [converted] = answer["recent_runs"]
    assert _is_iso_with_offset(converted["started_at"]) and converted["finished_at"] is None
    assert status["updated_at"] == 1_796_396_401.0  # the document read is not changed
    assert run_answer(run) == converted
    assert job_answer({"id": "tick", "history": [run]})["history"] == [converted]
