"""Command acknowledgements: round trips, what the previous leader wrote, and every refused shape."""

from __future__ import annotations

import pytest

from scheduler_proc.errors import UnreadableData
from scheduler_proc.formats.acks import CommandAck, decode_ack, encode_ack
from scheduler_proc.formats.validate import Source

SOURCE = Source("Redis key app:ack:1", "the sender reports the answer as unreadable")

RUN = CommandAck(
    ok=True,
    job_id="report",
    run_id="r-1",
    scheduled_at="2026-12-04T15:00:00.000001+00:00",
    result="queued",
    reason="claimed; it starts when a job thread is free",
)


@pytest.mark.parametrize(
    "ack",
    [
        RUN,
        CommandAck(ok=True, job_id="report", paused=True),
        CommandAck(ok=False, error="unknown job 'x'"),
        CommandAck(**{**RUN, "ok": False, "result": "refused", "error": "not run: paused"}),
    ],
)
def test_an_ack_round_trips(ack: CommandAck) -> None:
    assert decode_ack(encode_ack(ack), SOURCE) == ack


@pytest.mark.parametrize(
    "text",
    [
        '{"ok": true, "job_id": "j", "paused": false}',
        '{"ok": false, "error": "the command expired after 30s without a leader to take it"}',
        '{"ok": true, "job_id": "j", "run_id": "abc", "scheduled_at": "2026-01-01T00:00:00.000001+00:00", '
        '"result": "already-ran", "reason": "this command was carried out before (its fire is claimed)"}',
        '{"ok": false, "job_id": "j", "run_id": "abc", "scheduled_at": "2026-01-01T00:00:00.000001+00:00", '
        '"result": "refused", "reason": "paused", "error": "not run: paused"}',
    ],
)
def test_answers_the_previous_leader_wrote_decode_to_the_same_document(text: str) -> None:
    import json

    assert decode_ack(text, SOURCE) == json.loads(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("OK", "holds 'OK', not JSON"),
        ("[true]", "not a JSON object"),
        ('{"ok": "yes"}', "holds 'yes' for ok, not true or false"),
        ('{"error": "x"}', "has no ok "),
        ('{"ok": true, "result": "done"}', "holds 'done' for result, not one of ran, queued, already-ran, refused"),
        ('{"ok": true, "paused": 1}', "holds '1' for paused, not true or false"),
        ('{"ok": false, "error": null}', "holds 'None' for error, not a string"),
    ],
)
def test_an_answer_of_another_shape_is_refused_and_named(text: str, message: str) -> None:
    with pytest.raises(UnreadableData, match="the sender reports the answer as unreadable") as caught:
        decode_ack(text, SOURCE)
    assert message in str(caught.value) and caught.value.key == "Redis key app:ack:1"
