"""The API's response models (scheduler_proc/web/models.py): what a client generator sees."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from scheduler_proc.web.models import Error, Run

_RUN = {
    "job_id": "tick",
    "run_id": "r1",
    "scheduled_at": "2026-12-04T15:00:00+00:00",
    "node": "a",
    "term": 7,
    "origin": "schedule",
    "started_at": "2026-12-04T15:00:00.010000+00:00",
    "finished_at": None,
    "outcome": "running",
    "error": None,
    "duration": None,
    "attempts": 1,
}


def test_a_run_as_the_api_answers_it_validates() -> None:
    run = Run.model_validate(_RUN)
    assert run.term == 7 and run.started_at.utcoffset() is not None


def test_a_run_says_its_origin_not_0_1_0s_trigger() -> None:
    with pytest.raises(ValidationError, match="trigger"):
        Run.model_validate({**{key: value for key, value in _RUN.items() if key != "origin"}, "trigger": "schedule"})
    with pytest.raises(ValidationError, match="origin"):
        Run.model_validate({**_RUN, "origin": "webhook"})


def test_a_field_the_model_does_not_declare_is_refused() -> None:
    with pytest.raises(ValidationError, match="surprise"):
        Run.model_validate({**_RUN, "surprise": 1})
    with pytest.raises(ValidationError, match="code"):
        Error.model_validate({"detail": "no code"})
