"""Crontabs with a real scheduler: catch-up across a DST change runs the instants the preview
names, and `scheduler-proc next` prints the schedule (the crontab semantics themselves are
pinned in tests/unit/test_crontab.py).
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis_support import RedisServer
from support import Host, HostFactory, read_fires, wait_for
from tzfiles import write_zone

from scheduler_proc.coordination.local.ledger import LocalLedger
from scheduler_proc.coordination.records import ClaimResult, to_micros
from scheduler_proc.coordination.redis.keys import Keys
from scheduler_proc.coordination.term import Term


@pytest.mark.parametrize("mode", ["single-host", "cluster"])
def test_catch_up_across_a_dst_change_runs_the_instants_the_preview_names(
    hosts: HostFactory, tmp_path: Path, mode: str
) -> None:
    """A scheduler down while the clock changed (in zones made up for the test: the host's clock is
    left alone) catches up exactly the instants `python -m scheduler_proc next` computes: the
    local times skipped when the clock went forward run once, right after the change; the
    local times passed twice run once for a fixed-time job and again for a '*' job."""
    change = int(time.time()) + 2
    wall = change // 3600 * 3600 + 10 * 60 + 55  # local time at the change: hh:10:55, so minutes fall 5 s after it
    offset, hour = wall - change, wall // 3600 % 24
    zones = tmp_path / "zoneinfo"
    write_zone(zones, "Kit/Forward", offset, offset + 3600, change)
    write_zone(zones, "Kit/Back", offset + 3600, offset, change)
    env = {"PYTHONTZPATH": str(zones), "DST_HOUR": str(hour), "SCHEDULER_MISFIRE_GRACE": "120"}
    redis_server = RedisServer(tmp_path / "redis").start() if mode == "cluster" else None
    if redis_server is not None:
        env |= {"SCHEDULER_REDIS_URL": redis_server.url, "SCHEDULER_LEASE_TTL": "2"}
    host = hosts(jobs="dst:jobs", env=env)
    jobs = ["forward_fixed", "forward_wild", "back_fixed", "back_wild"]
    previous = datetime.fromtimestamp(change - 55, UTC)  # the last fire before the change, of every job
    try:
        _claimed_before_the_restart(host, redis_server, jobs, previous)
        wait_for(lambda: time.time() > change + 7, 15, "the clock change to pass while no scheduler runs")
        expected = {
            job: {
                datetime.fromisoformat(fire)
                for fire in json.loads(host.cli("next", job, "--after", f"{previous.isoformat()}", "--json").stdout)
                if datetime.fromisoformat(fire) > previous and datetime.fromisoformat(fire).timestamp() < change + 30
            }
            for job in jobs
        }
        assert expected == {
            "forward_fixed": {datetime.fromtimestamp(change, UTC)},  # right after the change
            "forward_wild": set(),  # its skipped local times do not run
            "back_fixed": set(),  # its local times passed twice ran on the first pass
            "back_wild": {datetime.fromtimestamp(change + 5, UTC)},  # the second pass runs too
        }, expected
        host.start_and_wait()
        wait_for(lambda: len(read_fires(host.fire_log)) >= 2, 15, "the caught-up fires")
        wait_for(lambda: time.time() > change + 15, 20, "any further fire in the window to have run")
        ran: dict[str, list[datetime]] = {job: [] for job in jobs}
        for fire in read_fires(host.fire_log):
            ran[fire["job"]].append(datetime.fromisoformat(fire["scheduled_at"]))
        assert {job: sorted(times) for job, times in ran.items()} == {
            job: sorted(times) for job, times in expected.items()
        }
        assert "were missed" not in host.output()
    finally:
        if redis_server is not None:
            redis_server.kill()


def _claimed_before_the_restart(
    host: Host, redis_server: RedisServer | None, jobs: list[str], previous: datetime
) -> None:
    """What a scheduler that ran until just before the change leaves behind: each job's last claim."""
    if redis_server is not None:
        micros = str(to_micros(previous))
        client, keys = redis_server.client(), Keys("scheduler")
        client.hset(keys.last, mapping={job: micros for job in jobs})
        client.set(keys.fence, 7)  # it led under some term: this Redis kept its data
        return
    state = Path(host.env["SCHEDULER_STATE_DIR"])
    state.mkdir(mode=0o700, parents=True)
    ledger = LocalLedger(state / "scheduler.sqlite3", retention=3600)
    for job in jobs:
        assert ledger.claim(job, previous, Term(None, lambda: True), host.name, f"seed-{job}") is ClaimResult.CLAIMED
    ledger.close()


# -- the preview: python -m scheduler_proc next ----------------------------------------------------


def test_next_prints_the_schedule_as_text_and_json_in_the_jobs_zone(hosts: HostFactory) -> None:
    weekday = hosts("weekdays", jobs="weekdays:jobs")
    text = weekday.cli("next", "standup", "--count", "6", "--after", "2026-11-27T12:00:00")
    assert text.returncode == 0, text.stderr
    assert text.stdout.split() == [
        "2026-11-30T09:00:00-05:00",  # Monday: Friday's 09:00 had passed at noon
        "2026-12-01T09:00:00-05:00",
        "2026-12-02T09:00:00-05:00",
        "2026-12-03T09:00:00-05:00",
        "2026-12-04T09:00:00-05:00",
        "2026-12-07T09:00:00-05:00",
    ]
    as_json = weekday.cli("next", "standup", "--count", "2", "--after", "2026-03-07T12:00:00-05:00", "--json")
    assert json.loads(as_json.stdout) == ["2026-03-09T09:00:00-04:00", "2026-03-10T09:00:00-04:00"]
    night = weekday.cli("--json", "next", "night", "--count", "2", "--after", "2026-03-07T12:00:00-05:00")
    assert json.loads(night.stdout) == ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"]


@pytest.mark.parametrize(
    "args, jobs, message",
    [
        (["next", "nope"], "weekdays:jobs", r"error: unknown job 'nope' in SCHEDULER_JOBS='weekdays:jobs'; known jobs"),
        (["next", "standup", "--count", "0"], "weekdays:jobs", r"argument --count: '0' is not a whole number from 1"),
        (["next", "standup", "--after", "soon"], "weekdays:jobs", r"argument --after: 'soon' is not an ISO 8601 time"),
        (["next", "x"], "raises_on_import:jobs", r"error: SCHEDULER_JOBS='raises_on_import:jobs': importing the"),
        (["next", "x"], "bad_cron_value:jobs", r"error: SCHEDULER_JOBS='bad_cron_value:jobs': job 'bad_cron_value"),
    ],
)
def test_next_says_what_is_wrong_and_exits_2(hosts: HostFactory, args: list[str], jobs: str, message: str) -> None:
    result = hosts(jobs=jobs).cli(*args)
    assert result.returncode == 2, result
    assert re.search(message, result.stderr), result.stderr
    assert "Traceback" not in result.stderr
