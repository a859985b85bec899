"""The run request on a job process's stdin: round trip, the previous runner's request, refused shapes."""

from __future__ import annotations

import json

import pytest

from scheduler_proc.errors import UnreadableData
from scheduler_proc.formats.job_request import JobRequest, decode_job_request, encode_job_request

REQUEST = JobRequest(
    path=["/srv/app", "/srv/app/.venv/lib/python3.12/site-packages"],
    job_id="report",
    scheduled_at="2026-12-04T15:00:00+00:00",
    node="web-1",
    fencing_token=7,
    run_id="r1-abc",
    parent=4121,
    result_fd=9,
)


def test_a_request_round_trips_and_keeps_the_previous_bytes() -> None:
    assert decode_job_request(encode_job_request(REQUEST)) == REQUEST
    assert encode_job_request(REQUEST) == json.dumps(dict(REQUEST))  # as the runner wrote it before
    single_host = {**REQUEST, "fencing_token": None}
    assert decode_job_request(json.dumps(single_host)) == single_host


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"path": "/srv/app"}, "holds '/srv/app' for path, not a list of strings"),
        ({"result_fd": "9"}, "holds '9' for result_fd, not a whole number"),
        ({"fencing_token": 1.5}, "for fencing_token, not a whole number or null"),
        ({"job_id": None}, "holds 'None' for job_id, not a string"),
    ],
)
def test_a_request_of_another_shape_is_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(UnreadableData, match="a job process is started by the runner only") as caught:
        decode_job_request(json.dumps({**REQUEST, **change}))
    assert message in str(caught.value)
