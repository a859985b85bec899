"""The status file: round trips, what the previous runner wrote, every refused shape, and read_status on real files."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from scheduler_proc.errors import UnreadableData
from scheduler_proc.formats.status import JobRow, StatusDocument, decode_status, encode_status, status_source
from scheduler_proc.status import STALE_AFTER, read_status, write_status

SOURCE = status_source("/run/app/x.status-10.json")

ROW = JobRow(
    id="report",
    trigger="cron: */5 * * * * (UTC)",
    paused=False,
    next_run_at="2026-12-04T15:05:00+00:00",
    next_fires=["2026-12-04T15:05:00+00:00", "2026-12-04T15:10:00+00:00"],
    last_run_at="2026-12-04T15:00:00+00:00",
    last_outcome="success",
    last_claimed_at="2026-12-04T15:00:00+00:00",
    last_claimed_by="web-1",
)

LEADER = StatusDocument(
    node="web-1",
    role="leader",
    runner_pid=4121,
    master_pid=4100,
    mode="cluster",
    cluster={
        "store": "redis",
        "store_state": "ok",
        "redis": "ok",
        "leader_node": "web-1",
        "term": 7,
        "lease_age": 0.25,
        "last_renewal_at": 1796310000.5,
        "lease_ttl": 10.0,
        "clock_offset": None,
        "clock_ok": True,
    },
    jobs=[ROW],
    tzdata="2025b",
    problems=[{"summary": "the state directory is full", "detail": "free space in /var/lib/app"}],
    conflict="another app holds it",
    tzdata_mismatch="the leader computes with tzdata 2024a",
)

#: What the previous runner wrote (its publisher, before the formats package): a standby on one
#: host, with a job it does not dispatch and an old integer lease TTL.
PREVIOUS = (
    b'{"node": "web-2", "role": "standby", "runner_pid": 4222, "master_pid": 4200, "mode": "single-host",'
    b' "cluster": {}, "jobs": [{"id": "report", "trigger": "every 20s", "paused": true, "next_run_at": null,'
    b' "next_fires": [], "last_run_at": null, "last_outcome": null}], "tzdata": "2025b",'
    b' "updated_at": 1796310000.123}'
)


def test_a_document_round_trips_with_the_time_it_was_made() -> None:
    assert decode_status(encode_status(LEADER, 1796310000.5), SOURCE) == {**LEADER, "updated_at": 1796310000.5}


def test_a_document_the_previous_runner_wrote_decodes() -> None:
    document = decode_status(PREVIOUS, SOURCE)
    assert document == json.loads(PREVIOUS)
    assert "problems" not in document and "last_claimed_at" not in document["jobs"][0]


def test_keys_a_newer_runner_adds_are_ignored() -> None:
    raw = json.loads(PREVIOUS)
    raw["something_new"] = {"x": 1}
    raw["jobs"][0]["also_new"] = 1
    assert decode_status(json.dumps(raw).encode(), SOURCE) == json.loads(PREVIOUS)


def _changed(path: str, value: object) -> bytes:
    """The previous runner's document with the value at ``path`` (dotted; a number indexes a list)
    replaced, or removed when ``value`` is ``...``."""
    raw = json.loads(PREVIOUS)
    *parents, last = path.split(".")
    target = raw
    for step in parents:
        target = target[int(step)] if step.isdigit() else target[step]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return json.dumps(raw).encode()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "holds '', not JSON"),
        (b'{"node": "web-2", "rol', "not JSON"),
        (b"[]", "holds '[]', not a JSON object"),
        (_changed("role", "boss"), "holds 'boss' for role, not one of leader, standby"),
        (_changed("mode", ...), "has no mode (one of single-host, cluster)"),
        (_changed("runner_pid", "4222"), "holds '4222' for runner_pid, not a whole number"),
        (_changed("cluster", None), "holds 'None' for cluster, not a JSON object"),
        (_changed("cluster.term", "7"), "holds '7' for cluster.term, not a whole number or null"),
        (_changed("cluster.clock_ok", "yes"), "for cluster.clock_ok, not true or false"),
        (_changed("jobs", {}), "holds '{}' for jobs, not a list of JSON objects"),
        (_changed("jobs.0.id", 3), "holds '3' for jobs[0].id, not a string"),
        (_changed("jobs.0.paused", ...), "has no jobs[0].paused (true or false)"),
        (_changed("jobs.0.next_fires", [1]), "for jobs[0].next_fires, not a list of strings"),
        (_changed("jobs.0.last_outcome", 7), "holds '7' for jobs[0].last_outcome, not a string or null"),
        (_changed("problems", [{"summary": "x"}]), "has no problems[0].detail (a string)"),
        (_changed("updated_at", "now"), "holds 'now' for updated_at, not a finite number"),
    ],
)
def test_a_document_of_another_shape_is_refused_naming_the_file_and_the_field(raw: bytes, message: str) -> None:
    with pytest.raises(UnreadableData) as caught:
        decode_status(raw, SOURCE)
    assert message in str(caught.value)
    assert re.match(r"status file /run/app/x\.status-10\.json (holds|has no) ", str(caught.value))
    assert str(caught.value).endswith("its runner rewrites it within a second; delete it if it stays so")


def test_read_status_gives_the_document_while_the_file_is_touched(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    write_status(path, LEADER)
    document = read_status(path)
    assert document is not None and document["jobs"] == [ROW] and document["updated_at"] <= time.time()
    old = time.time() - STALE_AFTER - 1
    os.utime(path, (old, old))
    assert read_status(path) is None  # no heartbeat: stopped or hung


@pytest.mark.parametrize("content", [b"", b"{", b"null", _changed("jobs.0.id", None)])
def test_read_status_counts_an_unreadable_file_as_none(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "status.json"
    path.write_bytes(content)
    path.chmod(0o600)
    assert read_status(path) is None
    assert read_status(tmp_path / "missing.json") is None


def test_a_last_outcome_of_a_later_version_shows_as_unknown() -> None:
    """Two versions run side by side during a USR2 upgrade: one job's word must not hide the status."""
    document = decode_status(_changed("jobs.0.last_outcome", "vanished"), SOURCE)
    assert document["jobs"][0]["last_outcome"] == "unknown"


def test_a_document_of_0_2_names_its_store_state_redis_and_reads_as_the_store() -> None:
    text = encode_status({**LEADER, "cluster": {"redis": "unreachable", "lease_ttl": 10.0}}, 1796310000.5)
    cluster = decode_status(text, SOURCE)["cluster"]
    assert cluster["store"] == "redis" and cluster["store_state"] == "unreachable"
