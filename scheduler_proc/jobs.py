"""The public job API: ``Jobs`` registers functions with a trigger; ``RunContext`` describes one fire."""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from scheduler_proc.crontab import CrontabError, CrontabTrigger
from scheduler_proc.errors import JobDefinitionError
from scheduler_proc.hooks import Hook, HookEvent, Hooks

JobFunc = Callable[..., Any]
F = TypeVar("F", bound=JobFunc)

# A job id is one path segment of the HTTP API and one word in a log line: ASCII letters,
# digits and _ . : - only (no newline, escape or bidi control), and not only dots ('.', '..').
_ID_RE = re.compile(r"(?!\.*\Z)[A-Za-z0-9_.:-]{1,200}\Z")
ID_ALPHABET = "1-200 of A-Z a-z 0-9 _ . : - (not only dots)"
# Intervals count from a fixed anchor so every node computes the same fire times,
# which is what lets a fire be claimed once under (job id, scheduled time).
INTERVAL_ANCHOR = datetime(1970, 1, 1, tzinfo=UTC)
UTC_ZONE = ZoneInfo("UTC")
_LONGEST = 10 * 366 * 86400.0


def _always_current() -> bool:
    return True


@dataclass(frozen=True)
class RunContext:
    """What a job knows about the fire it is running."""

    job_id: str
    scheduled_at: datetime
    node: str
    fencing_token: int | None
    run_id: str = ""
    _is_current: Callable[[], bool] = field(default=_always_current, repr=False, compare=False)

    def is_current(self) -> bool:
        """True while the leadership term this fire ran under is still current.

        Long jobs can check it before an irreversible step; in single-host mode it is
        always True while the scheduler holds the host lock.
        """
        return self._is_current()


@dataclass(frozen=True)
class JobSpec:
    """One registered job: the function, its trigger and its run options."""

    id: str
    func: JobFunc
    trigger: BaseTrigger
    description: str
    misfire_grace_time: float | None
    coalesce: bool
    max_instances: int
    jitter: float
    wants_context: bool
    zone: ZoneInfo = UTC_ZONE
    timeout: float | None = None  # seconds a run may take; then it is stopped and recorded timed_out
    retries: int = 0  # calls of a failed run again, as the same fire (see scheduler_proc.runner.attempts)
    retry_delay: float = 1.0  # the first retry's wait; each next one waits twice as long
    retry_timeouts: bool = False  # retry a run that timed out too

    def upcoming(self, after: datetime, count: int) -> list[datetime]:
        """The next ``count`` fire instants at or after ``after``, from the trigger the scheduler runs.

        Paused state, catch-up and misfire grace do not apply: this is the schedule itself.
        """
        fires: list[datetime] = []
        previous: datetime | None = None
        while len(fires) < count:
            try:
                fire = self.trigger.get_next_fire_time(previous, after)
            except (OverflowError, ValueError):  # "year 10000 is out of range": the calendar ends
                break
            if fire is None:
                break
            fires.append(fire)
            previous = fire
        return fires

    def fires_between(self, since: datetime, until: datetime, limit: int) -> int:
        """How many fire instants are at or after ``since`` and before ``until``, counted up to ``limit``."""
        count, at = 0, self.trigger.get_next_fire_time(None, since)
        while at is not None and at < until and count < limit:
            count += 1
            at = self.trigger.get_next_fire_time(None, at + timedelta(microseconds=1))
        return count

    @property
    def is_async(self) -> bool:
        """True for ``async def`` jobs, which run on an event loop of their own."""
        return inspect.iscoroutinefunction(self.func)


class Jobs:
    """A registry of jobs; point ``SCHEDULER_JOBS`` at an instance of it.

    Every definition is checked when it is registered, so a bad crontab or timezone
    fails at import time with a message naming the job.
    """

    def __init__(
        self,
        *,
        timezone: str = "UTC",
        misfire_grace_time: float | None = None,
        coalesce: bool = False,
        max_instances: int = 1,
        timeout: float | None = None,
    ) -> None:
        self._timezone = _zone("Jobs()", timezone)
        self._misfire_grace_time = _misfire_grace("Jobs()", misfire_grace_time)
        self._coalesce = coalesce
        self._max_instances = _max_instances("Jobs()", max_instances)
        self._timeout = _timeout("Jobs()", timeout)
        self._specs: dict[str, JobSpec] = {}
        self.hooks = Hooks()

    def hook(self, event: HookEvent) -> Callable[[Hook], Hook]:
        """Call the decorated function on ``event`` of every fire: start, success, failure, timeout
        or skip (it gets a :class:`~scheduler_proc.hooks.HookCall`; see scheduler_proc.hooks)."""

        self.hooks.check(event)

        def register(func: Hook) -> Hook:
            self.hooks.add(event, func)
            return func

        return register

    def cron(
        self,
        crontab: str,
        *,
        id: str | None = None,
        timezone: str | None = None,
        misfire_grace_time: float | None = None,
        coalesce: bool | None = None,
        max_instances: int | None = None,
        jitter: float = 0,
        timeout: float | None = None,
        retries: int = 0,
        retry_delay: float = 1.0,
        retry_timeouts: bool = False,
    ) -> Callable[[F], F]:
        """Run the function on a crontab(5) schedule: 5 fields (minute hour day-of-month month day-of-week) or a macro.

        As cron reads it: 0 and 7 are Sunday, names such as ``mon-fri`` or ``jan``, and
        when both day fields are restricted a day matching either runs. Daylight saving
        changes follow cronie (see :mod:`scheduler_proc.crontab`).
        """

        def register(func: F) -> F:
            job_id = self._job_id(func, id)
            zone = _zone(f"job {job_id!r}", timezone) if timezone is not None else self._timezone
            trigger = _crontab_trigger(job_id, crontab, zone)
            self._add(
                job_id,
                func,
                trigger,
                f"cron[{crontab}] {zone.key}",
                misfire_grace_time,
                coalesce,
                max_instances,
                jitter,
                zone,
                timeout,
                Retry.of(job_id, retries, retry_delay, retry_timeouts),
            )
            return func

        return register

    def every(
        self,
        *,
        seconds: float = 0,
        minutes: float = 0,
        hours: float = 0,
        id: str | None = None,
        misfire_grace_time: float | None = None,
        coalesce: bool | None = None,
        max_instances: int | None = None,
        jitter: float = 0,
        start: datetime | None = None,
        timeout: float | None = None,
        retries: int = 0,
        retry_delay: float = 1.0,
        retry_timeouts: bool = False,
    ) -> Callable[[F], F]:
        """Run the function at a fixed interval.

        The fires are ``start + k x interval``: by default ``start`` is the Unix epoch, so
        every 5 minutes is :00, :05, ... but every 7 minutes is :01, :08, ... (the epoch's
        grid, the same on every node and after every restart). Pass an aware ``start`` to
        anchor the grid elsewhere; none fires before it.
        """

        def register(func: F) -> F:
            job_id = self._job_id(func, id)
            total = _interval_seconds(job_id, seconds, minutes, hours)
            anchor = _interval_anchor(job_id, start)
            trigger = IntervalTrigger(seconds=total, start_date=anchor, timezone="UTC")
            described = f"every {_duration(total)}" + ("" if start is None else f" from {anchor.isoformat()}")
            self._add(
                job_id,
                func,
                trigger,
                described,
                misfire_grace_time,
                coalesce,
                max_instances,
                jitter,
                timeout=timeout,
                retry=Retry.of(job_id, retries, retry_delay, retry_timeouts),
            )
            return func

        return register

    def __iter__(self) -> Iterator[JobSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._specs

    def get(self, job_id: str) -> JobSpec | None:
        """The job registered under ``job_id``, or None."""
        return self._specs.get(job_id)

    def _job_id(self, func: JobFunc, explicit: str | None) -> str:
        if not callable(func):
            raise JobDefinitionError(f"{func!r} is not a function; decorate a def or async def")
        if explicit is None:
            # Jobs defined inside a function would otherwise carry '<locals>' in their id.
            job_id = f"{func.__module__}.{func.__qualname__}".replace(".<locals>", "")
            if not _ID_RE.match(job_id):
                raise JobDefinitionError(
                    f"{func!r} has no usable default job id ({job_id!r}); pass id=... made of {ID_ALPHABET}"
                )
        else:
            job_id = explicit
        if not isinstance(job_id, str) or not _ID_RE.match(job_id):
            raise JobDefinitionError(f"job id {job_id!r} is invalid; use {ID_ALPHABET}")
        if job_id in self._specs:
            other = self._specs[job_id].func
            raise JobDefinitionError(
                f"duplicate job id {job_id!r}: {_where(func)} and {_where(other)}; give one of them another id=..."
            )
        return job_id

    def _add(
        self,
        job_id: str,
        func: JobFunc,
        trigger: BaseTrigger,
        description: str,
        misfire_grace_time: float | None,
        coalesce: bool | None,
        max_instances: int | None,
        jitter: float,
        zone: ZoneInfo = UTC_ZONE,
        timeout: float | None = None,
        retry: Retry | None = None,
    ) -> None:
        retry = retry or Retry()
        self._specs[job_id] = JobSpec(
            id=job_id,
            func=func,
            trigger=trigger,
            description=description,
            misfire_grace_time=_misfire_grace(f"job {job_id!r}", misfire_grace_time)
            if misfire_grace_time is not None
            else self._misfire_grace_time,
            coalesce=self._coalesce if coalesce is None else bool(coalesce),
            max_instances=self._max_instances
            if max_instances is None
            else _max_instances(f"job {job_id!r}", max_instances),
            jitter=_optional_seconds(f"job {job_id!r}", "jitter", jitter) or 0.0,
            wants_context=_wants_context(job_id, func),
            zone=zone,
            timeout=self._timeout if timeout is None else _timeout(f"job {job_id!r}", timeout),
            retries=retry.retries,
            retry_delay=retry.delay,
            retry_timeouts=retry.timeouts,
        )


def _where(func: JobFunc) -> str:
    code = getattr(func, "__code__", None)
    if code is None:
        return repr(func)
    return f"{func.__qualname__} ({code.co_filename}:{code.co_firstlineno})"


def _zone(owner: str, name: object) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise JobDefinitionError(f"{owner}: timezone {name!r} is not a name; use an IANA name like 'Europe/Paris'")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise JobDefinitionError(
            f"{owner}: unknown timezone {name!r}; use an IANA name like 'UTC' or 'Europe/Paris'"
        ) from None


def _crontab_trigger(job_id: str, crontab: object, zone: ZoneInfo) -> CrontabTrigger:
    try:
        return CrontabTrigger(crontab, zone)  # type: ignore[arg-type]  # parse() names a non-string
    except CrontabError as exc:
        raise JobDefinitionError(f"job {job_id!r}: invalid crontab {crontab!r}: {exc}") from None


def _interval_anchor(job_id: str, start: object) -> datetime:
    """The interval's grid starts here: the epoch, or the job's own aware ``start``."""
    if start is None:
        return INTERVAL_ANCHOR
    if not isinstance(start, datetime) or start.tzinfo is None or start.utcoffset() is None:
        raise JobDefinitionError(
            f"job {job_id!r}: start={start!r} is not a datetime with a time zone; pass an aware one, "
            "for example datetime(2026, 1, 1, 9, 0, tzinfo=ZoneInfo('Europe/Paris'))"
        )
    return start.astimezone(UTC)


def _interval_seconds(job_id: str, seconds: float, minutes: float, hours: float) -> float:
    """The interval in seconds: a whole number of milliseconds, from 0.1 s to 10 years."""
    parts = {"seconds": seconds, "minutes": minutes, "hours": hours}
    for name, value in parts.items():
        if not _is_number(value) or value < 0:
            raise JobDefinitionError(f"job {job_id!r}: every({name}={value!r}) must be a finite number >= 0")
    total = seconds + 60 * minutes + 3600 * hours
    if total > _LONGEST:
        raise JobDefinitionError(f"job {job_id!r}: every() interval of {total:g}s is too long; use a crontab")
    if total < 0.1:
        raise JobDefinitionError(f"job {job_id!r}: every() interval of {total:g}s is too short; use at least seconds=1")
    millis = round(total * 1000)
    # Whole milliseconds keep scheduled fires on even microseconds, apart from manual runs' odd ones.
    if abs(total * 1000 - millis) > 1e-6:
        raise JobDefinitionError(
            f"job {job_id!r}: every() interval of {total!r}s is not a whole number of milliseconds; "
            f"use for example seconds={millis / 1000:g}"
        )
    return millis / 1000


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _duration(seconds: float) -> str:
    """'1h', '5m', '90s' or '0.5s': how an interval reads in status pages."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _optional_seconds(owner: str, name: str, value: object, least: float = 0) -> float | None:
    if value is None:
        return None
    if not _is_number(value) or not least <= value <= _LONGEST:
        raise JobDefinitionError(f"{owner}: {name}={value!r} must be a finite number of seconds >= {least:g}")
    return float(value)


@dataclass(frozen=True)
class Retry:
    """A job's retry options, checked (see scheduler_proc.runner.attempts for what they do)."""

    retries: int = 0
    delay: float = 1.0
    timeouts: bool = False

    @classmethod
    def of(cls, job_id: str, retries: object, delay: object, timeouts: object) -> Retry:
        owner = f"job {job_id!r}"
        if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= _MOST_RETRIES:
            raise JobDefinitionError(f"{owner}: retries={retries!r} must be a whole number from 0 to {_MOST_RETRIES}")
        if not _is_number(delay) or not 0.1 <= delay <= _LONGEST:
            raise JobDefinitionError(f"{owner}: retry_delay={delay!r} must be a number of seconds, at least 0.1")
        if not isinstance(timeouts, bool):
            raise JobDefinitionError(f"{owner}: retry_timeouts={timeouts!r} must be True or False")
        return cls(retries, float(delay), timeouts)


_MOST_RETRIES = 100


def _timeout(owner: str, value: object) -> float | None:
    if _is_number(value) and value <= 0:
        raise JobDefinitionError(f"{owner}: timeout={value!r} must be a positive number of seconds (or None: no limit)")
    return _optional_seconds(owner, "timeout", value)


def _misfire_grace(owner: str, value: object) -> float | None:
    if _is_number(value) and 0 <= value < 1:
        raise JobDefinitionError(
            f"{owner}: misfire_grace_time={value!r} would skip every fire (fires start a few milliseconds "
            "after their time); use at least 1 second"
        )
    return _optional_seconds(owner, "misfire_grace_time", value, least=1)


def _max_instances(owner: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise JobDefinitionError(f"{owner}: max_instances={value!r} must be a whole number >= 1")
    return value


def _wants_context(job_id: str, func: JobFunc) -> bool:
    """True if the job takes a RunContext; raise if its signature is neither () nor (ctx: RunContext)."""
    params = list(inspect.signature(func).parameters.values())
    if not params:
        return False
    hint = "define it as `def job() -> None` or `def job(ctx: RunContext) -> None`"
    if len(params) > 1:
        raise JobDefinitionError(f"job {job_id!r} takes {len(params)} parameters; {hint}")
    param = params[0]
    annotation = param.annotation
    # Under `from __future__ import annotations` the annotation is a string, possibly quoted twice.
    named = annotation.strip("'\"") if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    if (
        param.kind not in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD)
        or named.rsplit(".", 1)[-1] != "RunContext"
    ):
        raise JobDefinitionError(f"job {job_id!r}: parameter {param.name!r} is not annotated RunContext; {hint}")
    return True
