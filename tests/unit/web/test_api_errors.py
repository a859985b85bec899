"""The routers' error body and codes (scheduler_proc/web/api_errors.py)."""

from __future__ import annotations

import json

import pytest
from fastapi import HTTPException

from scheduler_proc.web.api_errors import CODES, ApiError, declared, error_answer
from scheduler_proc.web.models import Error


def test_an_api_error_answers_detail_and_its_code_with_the_headers() -> None:
    answer = error_answer(ApiError(404, "unknown_job", "no job 'x'"), {"Cache-Control": "no-store"})
    assert answer.status_code == 404 and answer.headers["cache-control"] == "no-store"
    assert json.loads(bytes(answer.body)) == {"detail": "no job 'x'", "code": "unknown_job"}


def test_a_plain_http_exception_gets_the_code_of_its_status() -> None:
    answer = error_answer(HTTPException(401, "who?"), {})
    assert json.loads(bytes(answer.body)) == {"detail": "who?", "code": "unauthorized"}


def test_a_code_outside_the_table_is_refused_when_raised() -> None:
    with pytest.raises(ValueError, match=r"not in api_errors\.CODES"):
        ApiError(500, "oops", "x")


def test_declared_statuses_use_the_error_model_and_every_code_is_documented_by_status() -> None:
    assert declared(401, 504) == {
        401: {"model": Error, "description": declared(401)[401]["description"]},
        504: {"model": Error, "description": declared(504)[504]["description"]},
    }
    assert all(meaning[:3].isdigit() for meaning in CODES.values())
