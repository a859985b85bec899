"""crontab(5) as cronie reads it, turned into APScheduler triggers, plus cronie's rule for DST changes.

APScheduler 3's ``CronTrigger.from_crontab`` is not crontab(5): it counts weekdays from
Monday = 0, refuses 7 and ANDs the two day fields. So the kit parses the five fields
itself (parsing only: which minutes, hours, days, months and weekdays match), hands
APScheduler explicit values (weekdays by name) and ``OrTrigger`` for cron's day rule, and
lets APScheduler find matching wall-clock times and ``zoneinfo`` map them to instants.

Daylight saving time follows cronie's cron(8): a job whose minute or hour field starts
with ``*`` is scheduled by elapsed time (it runs at every instant whose local time
matches, both passes of a repeated hour, none in a skipped one). Any other job runs once
for a local time the clock passes twice (the first pass) and, for a local time the clock
skips, once right after the change. Changes of three hours or more are corrections to
the clock, not DST: the new local time is used as it is.
"""

from __future__ import annotations

import calendar
import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
EXAMPLE = "use 5 fields 'minute hour day-of-month month day-of-week', for example '*/5 * * * *' or '0 9 * * mon-fri'"
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DST_LIMIT = timedelta(hours=3)
#: Offsets are sampled every 12 h from a day before to a day and a half after a 6-hour bucket.
_BUCKET = 6 * 3600
_NEAR = tuple(timedelta(hours=hours) for hours in range(-24, 37, 12))


class CrontabError(ValueError):
    """A crontab the kit cannot use; the message says which field and what would be valid."""


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    names_from: int = 0


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day-of-month", 1, 31),
    _Field("month", 1, 12, _MONTHS, 1),
    _Field("day-of-week", 0, 7, _WEEKDAYS, 0),
)


@dataclass(frozen=True)
class Crontab:
    """The five fields of a crontab as sets of matching values, and the flags cron keeps about them.

    ``weekdays`` uses 0 = Sunday (a 7 in the text is folded into 0). ``day_star`` and
    ``weekday_star`` say the field's text starts with ``*``: only when neither does are
    the two day fields ORed. ``by_elapsed_time`` is cronie's "wildcard job" (minute or
    hour starts with ``*``), which DST changes do not treat specially.
    """

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    day_star: bool
    weekday_star: bool
    by_elapsed_time: bool

    @property
    def days_ored(self) -> bool:
        """crontab(5): if both day fields are restricted (neither starts with ``*``), either may match."""
        return not self.day_star and not self.weekday_star


def parse(text: str) -> Crontab:
    """Parse a 5-field crontab or a macro such as ``@daily``; raise :class:`CrontabError` on anything else."""
    if not isinstance(text, str):
        raise CrontabError(f"a crontab is a string, not {type(text).__name__}; {EXAMPLE}")
    stripped = text.strip()
    if stripped.startswith("@"):
        macro = stripped.lower()
        if macro == "@reboot":
            raise CrontabError(
                "@reboot is not supported: a scheduler has no reboot to run at; "
                "run start-up work in the app's lifespan instead"
            )
        if macro not in MACROS:
            raise CrontabError(f"unknown macro {stripped!r}; use one of {', '.join(MACROS)}")
        stripped = MACROS[macro]
    fields = stripped.split()
    if len(fields) == 6:
        raise CrontabError(
            "6 fields: seconds are not supported in a crontab; for a schedule under a minute use "
            "@jobs.every(seconds=...)"
        )
    if len(fields) != 5:
        raise CrontabError(f"{len(fields)} field(s); {EXAMPLE}")
    minutes, hours, days, months, weekdays = (_values(spec, f) for spec, f in zip(fields, _FIELDS, strict=True))
    if 7 in weekdays:
        weekdays = (weekdays - {7}) | {0}
    crontab = Crontab(
        text=text,
        minutes=minutes,
        hours=hours,
        days=days,
        months=months,
        weekdays=weekdays,
        day_star=fields[2].startswith("*"),
        weekday_star=fields[4].startswith("*"),
        by_elapsed_time=fields[0].startswith("*") or fields[1].startswith("*"),
    )
    _check_possible(crontab)
    return crontab


def _values(spec: str, field: _Field) -> frozenset[int]:
    """The values one field matches: a comma-separated list of ``*``, ``n``, ``a-b``, each with an optional step."""
    values: set[int] = set()
    for part in spec.split(","):
        values |= _range(part, spec, field)
    return frozenset(values)


def _range(part: str, spec: str, field: _Field) -> set[int]:
    where = f"{field.name} field {spec!r}"
    if not part:
        raise CrontabError(f"{where} has an empty list item; separate values with single commas, as in 1,15")
    if "~" in part:
        raise CrontabError(f"{where}: '~' (a random value) is not supported: every node must compute the same fires")
    body, slash, step_text = part.partition("/")
    step = 1
    if slash:
        if not _digits(step_text) or int(step_text) == 0:
            raise CrontabError(f"{where}: step {step_text!r} must be a whole number of at least 1, as in */5")
        step = int(step_text)
    if body == "*":
        first, last = field.low, field.high
    else:
        first_text, dash, last_text = body.partition("-")
        first = _number(first_text, where, field)
        # 'a/n' means a to the field's end, every n (cronie rejects it; other crons read it so).
        last = _number(last_text, where, field) if dash else (field.high if slash else first)
        if dash and first > last:
            if field.name == "day-of-week" and last == 0:
                last = 7  # cronie: 'fri-sun' is 5-0, read as 5-7
            else:
                raise CrontabError(
                    f"{where}: range {body!r} runs backwards; write it low-high, or as two items such as 22-23,0-2"
                )
    return set(range(first, last + 1, step))


def _digits(text: str) -> bool:
    """ASCII digits only, as crontab(5) reads them: ``str.isdigit()`` also takes '\u0661', '\uff15' and '\u00b9'."""
    return text.isascii() and text.isdigit()


def _number(text: str, where: str, field: _Field) -> int:
    if _digits(text):
        value = int(text)
    elif text.lower() in field.names:
        value = field.names.index(text.lower()) + field.names_from
    else:
        names = f", or the names {field.names[0]}-{field.names[-1]}" if field.names else ""
        raise CrontabError(f"{where}: {text!r} is not a number from {field.low} to {field.high}{names}")
    if not field.low <= value <= field.high:
        extra = " (0 and 7 are both Sunday)" if field.name == "day-of-week" else ""
        raise CrontabError(f"{where}: {value} is out of range; use {field.low}-{field.high}{extra}")
    return value


def _check_possible(crontab: Crontab) -> None:
    """Refuse a crontab that can never fire (such as the 30th of February), which cron would silently keep."""
    if not (crontab.days_ored and crontab.weekdays) and not _some_month_has_the_days(crontab):
        months = ", ".join(_MONTHS[m - 1] for m in sorted(crontab.months))
        days = ", ".join(str(d) for d in sorted(crontab.days))
        raise CrontabError(f"it never fires: no month of {months} has a day {days}")


def _some_month_has_the_days(crontab: Crontab) -> bool:
    longest = {month: calendar.monthrange(2024, month)[1] for month in crontab.months}  # 2024: Feb has 29
    return any(day <= longest[month] for month in crontab.months for day in crontab.days)


def _expression(values: frozenset[int], low: int, high: int) -> str:
    """APScheduler field text for a set of values: '*', 'a-b/step', or a list of values and runs."""
    ordered = sorted(values)
    if ordered == list(range(low, high + 1)):
        return "*"
    if len(ordered) >= 3:
        step = ordered[1] - ordered[0]
        if ordered == list(range(ordered[0], ordered[-1] + 1, step)):
            return f"{ordered[0]}-{ordered[-1]}" + (f"/{step}" if step > 1 else "")
    return ",".join(str(value) for value in ordered)


def _weekday_expression(weekdays: frozenset[int]) -> str:
    """APScheduler's day_of_week by name: its numbers start at Monday = 0, cron's at Sunday = 0."""
    if weekdays == frozenset(range(7)):
        return "*"
    return ",".join(_WEEKDAYS[day] for day in sorted(weekdays))


def wall_clock_trigger(crontab: Crontab) -> BaseTrigger:
    """APScheduler trigger yielding the matching *local wall-clock times*, expressed as UTC datetimes.

    UTC has no DST, so this walks a plain calendar; :class:`CrontabTrigger` maps each
    wall-clock time to instants in the job's zone.
    """
    common = {
        "second": "0",
        "minute": _expression(crontab.minutes, 0, 59),
        "hour": _expression(crontab.hours, 0, 23),
        "month": _expression(crontab.months, 1, 12),
        "timezone": UTC,
    }
    days = _expression(crontab.days, 1, 31)
    weekdays = _weekday_expression(crontab.weekdays)
    if crontab.days_ored and not _some_month_has_the_days(crontab):
        # '0 0 31 2 mon' runs on Mondays only; APScheduler would search to the year 9999 for the 31st.
        return CronTrigger(day="*", day_of_week=weekdays, **common)
    if crontab.days_ored:
        return OrTrigger(
            [CronTrigger(day=days, day_of_week="*", **common), CronTrigger(day="*", day_of_week=weekdays, **common)]
        )
    return CronTrigger(day=days, day_of_week=weekdays, **common)


class CrontabTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 ships no types
    """An APScheduler trigger for a crontab in a time zone, with cronie's DST rule.

    Fires are instants; the same expression, zone and starting point give the same
    instants on every node, so a fire's identity (job id, instant) is shared.
    """

    def __init__(self, text: str, zone: ZoneInfo) -> None:
        self.crontab = parse(text)
        self.zone = zone
        self._walls = wall_clock_trigger(self.crontab)

    def __str__(self) -> str:
        return f"crontab[{self.crontab.text}] {self.zone.key}"

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        """The first fire after ``previous_fire_time``, else at or after ``now`` (APScheduler's contract)."""
        start = previous_fire_time + timedelta(microseconds=1) if previous_fire_time else now
        return self.first_at_or_after(start)

    def first_at_or_after(self, start: datetime) -> datetime | None:
        """The earliest fire instant at or after ``start`` (timezone-aware), in UTC."""
        start = start.astimezone(UTC)
        spread = _offset_spread(self.zone, start)
        # A local time the clock passes twice can fire on its second pass after a later
        # local time's first pass: look back by the DST shift, forward until past it.
        cursor = _wall(start, self.zone) - spread
        best: datetime | None = None
        horizon: datetime | None = None
        while horizon is None or cursor <= horizon:
            wall = self._walls.get_next_fire_time(None, cursor.replace(tzinfo=UTC))
            if wall is None:
                break
            wall = wall.replace(tzinfo=None)
            for instant in self._instants(wall):
                if instant >= start and (best is None or instant < best):
                    best = instant
                    horizon = wall + _offset_spread(self.zone, instant)
            cursor = wall + timedelta(minutes=1)
        return best

    def _instants(self, wall: datetime) -> list[datetime]:
        """The instants a local wall-clock time fires at, after cronie's DST rule."""
        first = wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC)
        second = wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC)
        if first == second:
            return [first]
        normal = self.crontab.by_elapsed_time or abs(first - second) >= _DST_LIMIT
        if first < second:  # the clock went back: this local time happened twice
            return [first, second] if normal else [first]
        # The clock went forward over this local time: fold=1 reads it with the new offset.
        return [] if normal else [_transition(self.zone, second, first)]


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def _offset_spread(zone: ZoneInfo, instant: datetime) -> timedelta:
    """How much the zone's UTC offset varies within about a day of ``instant`` (0 away from DST changes)."""
    return _spread_near(zone, int(instant.timestamp()) // _BUCKET)


@functools.lru_cache(maxsize=4096)
def _spread_near(zone: ZoneInfo, bucket: int) -> timedelta:
    middle = datetime.fromtimestamp(bucket * _BUCKET, UTC)
    offsets = [(middle + delta).astimezone(zone).utcoffset() or timedelta(0) for delta in _NEAR]
    return max(offsets) - min(offsets)


def _transition(zone: ZoneInfo, before: datetime, after: datetime) -> datetime:
    """The instant the zone's offset changes, between ``before`` (old offset) and ``after`` (new one)."""
    old = before.astimezone(zone).utcoffset()
    low, high = int(before.timestamp()), int(after.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, UTC).astimezone(zone).utcoffset() == old:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)
