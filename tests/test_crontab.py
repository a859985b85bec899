"""Crontabs mean what crontab(5) and cronie's cron(8) mean: fields, the day rule, macros and DST.

The conformance test checks the kit's fires against a brute-force matcher written here
from crontab(5) alone (it shares no code with scheduler_proc.crontab), over a seeded
corpus of random expressions.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from redis_support import RedisServer
from support import Host, read_fires, wait_for
from tzfiles import write_zone

from scheduler_proc import JobDefinitionError, Jobs
from scheduler_proc.coordination.local.ledger import LocalLedger
from scheduler_proc.coordination.records import ClaimResult, to_micros
from scheduler_proc.coordination.redis.keys import Keys
from scheduler_proc.coordination.term import Term
from scheduler_proc.crontab import CrontabError, CrontabTrigger, parse

# -- an independent reading of crontab(5) ----------------------------------------------------------

_MONTH_NAMES = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


@dataclass
class _Spec:
    minutes: set[int]
    hours: set[int]
    doms: set[int]
    months: set[int]
    dows: set[int]  # 0..6, Sunday = 0
    dom_star: bool
    dow_star: bool


def _num(token: str, names: list[str], base: int) -> int:
    return names.index(token.lower()) + base if token.lower() in names else int(token)


def _field(text: str, low: int, high: int, names: list[str], base: int) -> set[int]:
    out: set[int] = set()
    for item in text.split(","):
        step = 1
        if "/" in item:
            item, step_text = item.split("/")
            step = int(step_text)
        if item == "*":
            a, b = low, high
        elif "-" in item:
            a, b = (_num(x, names, base) for x in item.split("-"))
            if b == 0 and a > b and high == 7:
                b = 7
        else:
            a = b = _num(item, names, base)
        out.update(range(a, b + 1, step))
    return out


def _reference(expr: str) -> _Spec:
    macros = {"@daily": "0 0 * * *", "@hourly": "0 * * * *", "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *"}
    fields = macros.get(expr, expr).split()
    # 'a/n' means a to the field's end, every n: spell it as a range first.
    fields = [",".join(_expand_single_step(p, i) for p in f.split(",")) for i, f in enumerate(fields)]
    dows = _field(fields[4], 0, 7, _DAY_NAMES, 0)
    if 7 in dows:
        dows = (dows - {7}) | {0}
    return _Spec(
        _field(fields[0], 0, 59, [], 0),
        _field(fields[1], 0, 23, [], 0),
        _field(fields[2], 1, 31, [], 1),
        _field(fields[3], 1, 12, _MONTH_NAMES, 1),
        dows,
        fields[2].startswith("*"),
        fields[4].startswith("*"),
    )


def _top(index: int) -> str:
    return str((59, 23, 31, 12, 7)[index])


def _expand_single_step(part: str, index: int) -> str:
    match = re.fullmatch(r"(\w+)/(\d+)", part)
    return f"{match[1]}-{_top(index)}/{match[2]}" if match else part


def _day_matches(spec: _Spec, day: date) -> bool:
    if day.month not in spec.months:
        return False
    dom_ok = day.day in spec.doms
    dow_ok = (day.isoweekday() % 7) in spec.dows
    if spec.dom_star or spec.dow_star:
        return dom_ok and dow_ok
    return dom_ok or dow_ok


def _brute_force(spec: _Spec, start: datetime, count: int, years: int = 9) -> list[datetime]:
    """The first ``count`` UTC minutes at or after ``start`` that match, walking day by day."""
    found: list[datetime] = []
    day = start.date()
    while len(found) < count and day < start.date() + timedelta(days=366 * years):
        if _day_matches(spec, day):
            for hour in sorted(spec.hours):
                for minute in sorted(spec.minutes):
                    moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
                    if moment >= start and len(found) < count:
                        found.append(moment)
        day += timedelta(days=1)
    return found


# -- a seeded corpus ------------------------------------------------------------------------------


def _random_item(rng: random.Random, low: int, high: int, names: list[str], base: int, field: int) -> str:
    def value() -> str:
        number = rng.randint(low, high)
        if names and rng.random() < 0.4 and number - base < len(names):
            name = names[number - base]
            return rng.choice([name, name.upper(), name.title()])
        return str(number)

    kind = rng.choice(["star", "step", "value", "range", "range_step", "single_step", "same_range"])
    if kind == "star":
        return "*"
    if kind == "step":
        return f"*/{rng.randint(1, max(1, (high - low) // 2 + 2))}"
    if kind == "value":
        return value()
    if kind == "same_range":  # a single-value range such as 4-4
        number = str(rng.randint(low, high))
        return f"{number}-{number}"
    a, b = sorted(rng.sample(range(low, high + 1), 2))
    if field == 4 and rng.random() < 0.15:
        return f"{rng.randint(1, 6)}-0"  # cronie reads 5-0 as 5-7 (Friday to Sunday)
    if kind == "range":
        return f"{a}-{b}"
    if kind == "range_step":
        return f"{a}-{b}/{rng.randint(1, 5)}"
    return f"{a}/{rng.randint(1, 7)}"


def _random_crontab(rng: random.Random) -> str:
    bounds = [(0, 59, [], 0), (0, 23, [], 0), (1, 31, [], 1), (1, 12, _MONTH_NAMES, 1), (0, 7, _DAY_NAMES, 0)]
    fields = []
    for index, (low, high, names, base) in enumerate(bounds):
        count = rng.choice([1, 1, 1, 2, 3])
        items = [_random_item(rng, low, high, names, base, index) for _ in range(count)]
        if "*" in items and len(items) > 1:
            items = [item for item in items if item != "*"] or ["*"]
        fields.append(",".join(items))
    return " ".join(fields)


def _corpus(size: int, seed: int) -> Iterator[str]:
    rng = random.Random(seed)
    yield from ["0 9 * * 1-5", "0 0 * * 0", "0 0 * * 7", "0 0 1 * 1", "4-4 4-4 4-4 4-4 4-4", "0 0 */2 * 1"]
    for _ in range(size):
        yield _random_crontab(rng)


def test_a_thousand_random_crontabs_fire_as_crontab5_says_over_two_years() -> None:
    rng = random.Random(20261130)
    starts = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randint(0, 3 * 365 * 1440)) for _ in range(6)]
    starts.sort()
    mismatches, checked, never = [], 0, 0
    for expr in _corpus(1000, seed=7):
        spec = _reference(expr)
        try:
            trigger = CrontabTrigger(expr, ZoneInfo("UTC"))
        except CrontabError as exc:
            assert "never fires" in str(exc), f"{expr!r} refused: {exc}"
            assert _brute_force(spec, starts[0], 1) == [], f"{expr!r} refused as never firing, but it fires"
            never += 1
            continue
        for start in starts:
            expected = _brute_force(spec, start, 8)
            got, previous = [], None
            for _ in range(len(expected)):
                previous = trigger.get_next_fire_time(previous, start)
                got.append(previous)
            checked += 1
            if got != expected:
                first = next(i for i, (a, b) in enumerate(zip(got, expected, strict=True)) if a != b)
                mismatches.append(f"{expr!r} from {start}: fire {first} is {got[first]}, cron says {expected[first]}")
                break
    assert not mismatches, f"{len(mismatches)} crontab(s) disagree with crontab(5):\n" + "\n".join(mismatches[:20])
    assert checked >= 1000 * 5 and never < 50


# -- specific meanings ----------------------------------------------------------------------------


def _fires(expr: str, zone: str, start: datetime, count: int) -> list[datetime]:
    trigger = CrontabTrigger(expr, ZoneInfo(zone))
    fires, previous = [], None
    for _ in range(count):
        previous = trigger.get_next_fire_time(previous, start)
        fires.append(previous.astimezone(ZoneInfo(zone)))
    return fires


@pytest.mark.parametrize(
    "expr, weekdays",
    [
        ("0 9 * * 1-5", ["Mon", "Tue", "Wed", "Thu", "Fri"]),
        ("0 9 * * mon-fri", ["Mon", "Tue", "Wed", "Thu", "Fri"]),
        ("0 9 * * 0", ["Sun"]),
        ("0 9 * * 7", ["Sun"]),
        ("0 9 * * SAT,sun", ["Sat", "Sun"]),
        ("0 9 * * 5-0", ["Fri", "Sat", "Sun"]),
    ],
)
def test_weekdays_count_from_sunday_and_seven_is_sunday_too(expr: str, weekdays: list[str]) -> None:
    fires = _fires(expr, "UTC", datetime(2026, 11, 30, tzinfo=UTC), 3 * len(weekdays))
    assert sorted({fire.strftime("%a") for fire in fires}) == sorted(weekdays)
    assert all(fire.hour == 9 and fire.minute == 0 for fire in fires)


def test_both_day_fields_restricted_means_either_and_a_star_prefix_means_both() -> None:
    either = _fires("0 0 1 * 1", "UTC", datetime(2026, 12, 1, tzinfo=UTC), 6)
    assert [f.date().isoformat() for f in either] == [
        "2026-12-01",  # the 1st (a Tuesday)
        "2026-12-07",
        "2026-12-14",
        "2026-12-21",
        "2026-12-28",
        "2027-01-01",  # the 1st (a Friday)
    ]
    both = _fires("0 0 */2 * 1", "UTC", datetime(2026, 12, 1, tzinfo=UTC), 3)
    assert all(f.day % 2 == 1 and f.strftime("%a") == "Mon" for f in both), both


@pytest.mark.parametrize(
    "macro, same_as",
    [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
    ],
)
def test_macros(macro: str, same_as: str) -> None:
    start = datetime(2026, 11, 30, 12, 34, tzinfo=UTC)
    assert _fires(macro, "UTC", start, 3) == _fires(same_as, "UTC", start, 3)


@pytest.mark.parametrize(
    "expr, message",
    [
        ("* * * * * *", r"6 fields: seconds are not supported in a crontab; .* @jobs\.every\(seconds=\.\.\.\)"),
        ("@reboot", "@reboot is not supported"),
        ("@every_minute", "unknown macro '@every_minute'; use one of @yearly"),
        ("* * * *", "4 field\\(s\\); use 5 fields"),
        ("0 9 * * 8", "day-of-week field '8': 8 is out of range; use 0-7 \\(0 and 7 are both Sunday\\)"),
        ("0 24 * * *", "hour field '24': 24 is out of range; use 0-23"),
        ("0 9 * foo *", "month field 'foo': 'foo' is not a number from 1 to 12, or the names jan-dec"),
        ("0 9 * * monday", "'monday' is not a number from 0 to 7, or the names sun-sat"),
        ("30-5 * * * *", "range '30-5' runs backwards"),
        ("*/0 * * * *", "step '0' must be a whole number of at least 1"),
        ("0 0 30 2 *", "it never fires: no month of feb has a day 30"),
        ("0 0 31 apr,jun *", "it never fires: no month of apr, jun has a day 31"),
        ("H * * * *", "'H' is not a number"),
        ("~ * * * *", "'~' \\(a random value\\) is not supported"),
        ("1,,2 * * * *", "empty list item"),
    ],
)
def test_bad_crontabs_say_what_is_wrong_and_what_is_valid(expr: str, message: str) -> None:
    with pytest.raises(CrontabError, match=message):
        parse(expr)
    jobs = Jobs()
    with pytest.raises(JobDefinitionError, match=rf"^job 'x': invalid crontab '{re.escape(expr)}': "):
        jobs.cron(expr, id="x")(lambda: None)


def test_the_thirtyfirst_of_february_is_fine_when_weekdays_may_match_instead() -> None:
    fires = _fires("0 0 31 2 mon", "UTC", datetime(2026, 12, 1, tzinfo=UTC), 2)
    assert all(f.strftime("%a") == "Mon" for f in fires)


# -- daylight saving time (cronie's cron(8)) ------------------------------------------------------

# (zone, the day the clock goes forward, a local time it skips, the local time right after the change,
#  the day it goes back, a local time it passes twice)
DST_ZONES = [
    ("America/New_York", date(2026, 3, 8), "30 2", "03:00", date(2026, 11, 1), "30 1"),
    ("Europe/Berlin", date(2026, 3, 29), "30 2", "03:00", date(2026, 10, 25), "30 2"),
    ("Australia/Lord_Howe", date(2026, 10, 4), "15 2", "02:30", date(2026, 4, 5), "45 1"),
    ("Australia/Sydney", date(2026, 10, 4), "30 2", "03:00", date(2026, 4, 5), "30 2"),
    ("America/Santiago", date(2026, 9, 6), "30 0", "01:00", date(2026, 4, 4), "30 23"),
]


def _local_fires_on(expr: str, zone: str, day: date, window_days: int = 1) -> list[datetime]:
    tz = ZoneInfo(zone)
    start = datetime(day.year, day.month, day.day, tzinfo=tz) - timedelta(days=1)
    end = start + timedelta(days=2 + window_days)
    trigger = CrontabTrigger(expr, tz)
    fires, previous = [], None
    while True:
        previous = trigger.get_next_fire_time(previous, start)
        if previous is None or previous >= end:
            return fires
        fires.append(previous.astimezone(tz))


@pytest.mark.parametrize("zone, forward, skipped, after, back, twice", DST_ZONES, ids=[z[0] for z in DST_ZONES])
def test_a_skipped_local_time_fires_once_right_after_the_change(
    zone: str, forward: date, skipped: str, after: str, back: date, twice: str
) -> None:
    fires = _local_fires_on(f"{skipped} * * *", zone, forward)
    assert len(fires) == 3, fires  # the day before, the day of the change, the day after
    assert fires[1].date() == forward and fires[1].strftime("%H:%M") == after, f"expected {after}: {fires}"
    assert fires[0].utcoffset() != fires[1].utcoffset(), "the fire right after the change has the new offset"


@pytest.mark.parametrize("zone, forward, skipped, after, back, twice", DST_ZONES, ids=[z[0] for z in DST_ZONES])
def test_a_local_time_passed_twice_fires_once_on_its_first_pass(
    zone: str, forward: date, skipped: str, after: str, back: date, twice: str
) -> None:
    minute, hour = twice.split()
    fires = _local_fires_on(f"{twice} * * *", zone, back)
    assert len(fires) == 3, fires  # the day before, the day of the change, the day after
    assert all(f.strftime("%H:%M") == f"{int(hour):02d}:{int(minute):02d}" for f in fires)
    assert fires[1].date() == back and fires[1].fold == 0, f"fired on the second pass: {fires}"
    assert fires[1].utcoffset() == fires[0].utcoffset(), "the first pass still has the old offset"


@pytest.mark.parametrize("zone, forward, skipped, after, back, twice", DST_ZONES, ids=[z[0] for z in DST_ZONES])
@pytest.mark.parametrize("expr, period", [("0 * * * *", 3600), ("*/15 * * * *", 900), ("@hourly", 3600)])
def test_hourly_and_more_frequent_jobs_keep_elapsed_time_across_both_changes(
    zone: str, forward: date, skipped: str, after: str, back: date, twice: str, expr: str, period: int
) -> None:
    for day in (forward, back):
        fires = [f.astimezone(UTC) for f in _local_fires_on(expr, zone, day)]
        gaps = {(b - a).total_seconds() for a, b in itertools.pairwise(fires)}
        # Lord Howe moves by 30 minutes, so an hourly job there sees a half-hour step once.
        allowed = {period, 5400} if zone == "Australia/Lord_Howe" and period == 3600 else {period}
        assert gaps <= allowed, f"{expr} in {zone} around {day}: steps {sorted(gaps)}"


def test_new_york_on_the_days_cron_users_reported() -> None:
    ny = ZoneInfo("America/New_York")
    back = _fires("30 1 * * *", "America/New_York", datetime(2026, 10, 31, 12, tzinfo=ny), 2)
    assert [f.isoformat() for f in back] == ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"]
    forward = _fires("30 2 * * *", "America/New_York", datetime(2026, 3, 7, 12, tzinfo=ny), 2)
    assert [f.isoformat() for f in forward] == ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"]


# -- catch-up after a restart across a DST change, on real gunicorn masters -------------------------


@pytest.mark.parametrize("mode", ["single-host", "cluster"])
def test_catch_up_across_a_dst_change_runs_the_instants_the_preview_names(hosts, tmp_path: Path, mode: str) -> None:
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


def test_next_prints_the_schedule_as_text_and_json_in_the_jobs_zone(hosts) -> None:
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
def test_next_says_what_is_wrong_and_exits_2(hosts, args: list[str], jobs: str, message: str) -> None:
    result = hosts(jobs=jobs).cli(*args)
    assert result.returncode == 2, result
    assert re.search(message, result.stderr), result.stderr
    assert "Traceback" not in result.stderr
