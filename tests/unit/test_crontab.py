"""Crontabs mean what crontab(5) and cronie's cron(8) mean: fields, the day rule, macros and DST
(scheduler_proc/crontab.py).

The conformance test checks the kit's fires against a brute-force matcher written here
from crontab(5) alone (it shares no code with scheduler_proc.crontab), over a seeded
corpus of random expressions. The scenarios with a real scheduler (catch-up across a DST
change, `scheduler-proc next`) are in tests/integration/test_crontab.py.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduler_proc import JobDefinitionError, Jobs
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
    fires: list[datetime] = []
    previous: datetime | None = None
    for _ in range(count):
        previous = trigger.get_next_fire_time(previous, start)
        assert previous is not None, f"{expr} has fewer than {count} fires"
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
    fires: list[datetime] = []
    previous: datetime | None = None
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
