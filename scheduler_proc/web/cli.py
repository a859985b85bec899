"""Command line: ``scheduler-proc`` (or ``python -m scheduler_proc``) and its commands.

Run it with the service's environment (the same SCHEDULER_* variables). Tables by
default, ``--json`` for scripts. Exit status, the same for every command: 0 ok, 1 the
check or command failed, 2 bad usage, settings, jobs module or an unknown job.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from scheduler_proc.errors import JobDefinitionError, JobsModuleError, SchedulerError, SettingsError, UnknownJob
from scheduler_proc.loader import load_jobs
from scheduler_proc.procutil import die_with_parent
from scheduler_proc.redact import redact
from scheduler_proc.settings import Settings
from scheduler_proc.variables import is_whole_number
from scheduler_proc.web.answers import run_answer, status_answer
from scheduler_proc.web.ops import HostStatus, Operations

_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
#: Errors in what the user gave (settings, jobs module, arguments, a job id): exit status 2.
_USAGE_ERRORS = (SettingsError, JobsModuleError, JobDefinitionError, UnknownJob)
_DESCRIPTION = (
    "Operate the scheduler of a FastAPI app: status, jobs, history, run/pause/resume a job, check health, "
    "show a job's next fires, validate the jobs module; `scheduler-proc deploy --help`: install on a VM "
    "with systemd. Run it with the service's SCHEDULER_* environment. "
    "Exit status: 0 ok, 1 the check or command failed, 2 bad usage, settings, jobs module or an unknown job."
)
_VALIDATE_FIRES = 3


def _table(rows: Sequence[Mapping[str, object]], columns: Sequence[str]) -> str:
    cells = [[_show(row.get(column)) for column in columns] for row in rows]
    widths = [max([len(column), *(len(line[i]) for line in cells)]) for i, column in enumerate(columns)]
    lines = ["  ".join(column.upper().ljust(widths[i]) for i, column in enumerate(columns))]
    lines += ["  ".join(value.ljust(widths[i]) for i, value in enumerate(line)) for line in cells]
    return "\n".join(line.rstrip() for line in lines)


def _show(value: Any) -> str:
    """A cell of a table: times shortened, and nothing that could drive the terminal (escape sequences)."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, str) and _ISO_TIME.match(value):
        with contextlib.suppress(ValueError):  # 'prod-Tokyo-...' only looks like a time
            return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S%z")
    return _printable(str(value))


def _printable(text: str) -> str:
    """Control characters (ESC and the like, from a corrupt or hostile store) shown as escapes."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def _status_text(status: HostStatus) -> str:
    cluster = status["cluster"]
    head = [
        f"node {status['node']}: {status['role']} ({status['mode']})",
        f"jobs run by pid {_show(status['pid'])} on this host; leader node {_show(status['leader_node'])}",
    ]
    if cluster:
        head.append(
            f"term {_show(cluster.get('term'))}, lease age {_show(cluster.get('lease_age'))}s, "
            f"{cluster.get('store', 'store')} {cluster.get('store_state')}"
        )
    return (
        "\n".join(head)
        + "\n\n"
        + _table(status["jobs"], ["id", "trigger", "next_run_at", "last_run_at", "last_outcome"])
    )


def _run(ops: Operations, args: argparse.Namespace) -> tuple[int, Any, str]:
    """(exit status, JSON document, text) for one command."""
    if args.command == "status":
        status = ops.status()
        return 0, status_answer(status), _status_text(status)
    if args.command == "jobs":
        jobs = ops.jobs()
        return 0, jobs, _table(jobs, ["id", "trigger", "paused", "next_run_at", "last_run_at", "last_outcome"])
    if args.command == "history":
        job = ops.job(args.job, args.limit)
        return (
            0,
            [run_answer(run) for run in job["history"]],
            _table(job["history"], ["scheduled_at", "node", "term", "origin", "duration", "outcome", "error"]),
        )
    if args.command == "check":
        ok, reason = ops.check()
        return (0 if ok else 1), {"ok": ok, "reason": reason}, ("OK: " if ok else "FAIL: ") + reason
    answer = ops.send(args.command, args.job)
    text = f"{args.command} {args.job}: " + (
        str(answer.get("result", "done")) if answer.get("ok") else str(answer.get("error"))
    )
    if answer.get("run_id"):
        text += f" (run id {answer['run_id']})"
    return (0 if answer.get("ok") else 1), answer, text


def _next(settings: Settings, args: argparse.Namespace) -> tuple[int, Any, str]:
    """The next fires of one job, from the jobs module itself: the schedule, not the scheduler's state."""
    jobs = load_jobs(settings.jobs_ref)
    spec = jobs.get(args.job)
    if spec is None:
        known = ", ".join(sorted(s.id for s in jobs)) or "none"
        raise UnknownJob(f"unknown job {args.job!r} in SCHEDULER_JOBS={settings.jobs_ref!r}; known jobs: {known}")
    after = datetime.now(spec.zone) if args.after is None else args.after
    if after.tzinfo is None:  # a local time of the job's zone (the first, if the clock passes it twice)
        after = after.replace(tzinfo=spec.zone)
    fires = [fire.astimezone(spec.zone).isoformat() for fire in spec.upcoming(after, args.count)]
    return 0, fires, "\n".join(fires) if fires else f"job {spec.id!r} has no fire after {after.isoformat()}"


def _validate(settings: Settings, args: argparse.Namespace) -> tuple[int, Any, str]:
    """Load the jobs module as the scheduler would and show each job's next fires: a check for CI."""
    if args.parent_pid is not None and not die_with_parent(args.parent_pid):
        return 1, {"ok": False}, "the server that asked for this check is gone"
    jobs = load_jobs(settings.jobs_ref)
    now = datetime.now(UTC)
    rows = [
        {
            "id": spec.id,
            "trigger": spec.description,
            "next_fires": [fire.astimezone(spec.zone).isoformat() for fire in spec.upcoming(now, _VALIDATE_FIRES)],
        }
        for spec in jobs
    ]
    document = {"ok": True, "jobs_ref": settings.jobs_ref, "namespace": settings.namespace, "jobs": rows}
    head = f"OK: {len(rows)} job(s) in SCHEDULER_JOBS={settings.jobs_ref!r} (namespace {settings.namespace!r})"
    if args.quiet:
        return 0, document, ""
    shown = [{**row, "next_fires": ", ".join(row["next_fires"]) or "never"} for row in rows]
    return 0, document, head + "\n\n" + _table(shown, ["id", "trigger", "next_fires"])


def _iso_time(raw: str) -> datetime:
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{raw!r} is not an ISO 8601 time; use for example 2026-03-08T01:00:00-05:00 "
            "(without an offset it is read in the job's time zone)"
        ) from None
    if not _FIRST_YEAR <= when.year <= _LAST_YEAR:
        # Python's calendar ends in year 9999: a fire after that, or a zone's offset there, overflows.
        raise argparse.ArgumentTypeError(
            f"{raw!r} is outside the years {_FIRST_YEAR}-{_LAST_YEAR} the schedules are computed for; "
            "use a time within them"
        )
    return when


_FIRST_YEAR, _LAST_YEAR = 2, 9998


def _whole_number(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number in ASCII digits from ``low`` to ``high``."""

    def parse(raw: str) -> int:
        if not is_whole_number(raw) or not low <= int(raw) <= high:
            raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number from {low} to {high}")
        return int(raw)

    return parse


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scheduler-proc", description=_DESCRIPTION)
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status", help="this host's scheduler and the cluster leader")
    sub.add_parser("jobs", help="jobs with next and last runs")
    history = sub.add_parser("history", help="recent runs of one job")
    history.add_argument("job")
    history.add_argument("--limit", type=_whole_number(1, 1000), default=20, help="how many runs (default 20)")
    for action in ("run", "pause", "resume"):
        sub.add_parser(action, help=f"{action} a job (sent to the leader)").add_argument("job")
    sub.add_parser("check", help="exit 1 unless this host's scheduler is up and the cluster has a leader")
    upcoming = sub.add_parser("next", help="the next fires of a job, computed as the scheduler computes them")
    upcoming.add_argument("job")
    upcoming.add_argument("--count", type=_whole_number(1, 10000), default=5, help="how many fires (default 5)")
    upcoming.add_argument("--after", type=_iso_time, help="start from this ISO 8601 time instead of now")
    validate = sub.add_parser(
        "validate", help="load the jobs module and check every job (for CI: exit 0 valid, 2 invalid)"
    )
    validate.add_argument("--quiet", action="store_true", help="print nothing when the jobs are valid")
    # The lifespan's check: this process ends with the server that waits for it (a SIGKILLed
    # uvicorn left it running, for ever if the jobs module blocked at import).
    validate.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)
    for command in sub.choices.values():  # `status --json` as well as `--json status`
        command.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["deploy"]:  # the systemd install, as `make deploy` runs it (see its --help)
        from scheduler_proc.deploy.tool import main as deploy

        return deploy(words[1:])
    args = _parser().parse_args(words)
    if args.command in _LOCAL_COMMANDS:
        _look_in_the_current_directory()
    try:
        settings = Settings.from_env()
        code, document, text = _LOCAL_COMMANDS.get(args.command, _operate)(settings, args)
    except SchedulerError as exc:
        print(f"error: {_printable(redact(str(exc)))}", file=sys.stderr)
        return 2 if isinstance(exc, _USAGE_ERRORS) or args.command == "status" else 1
    if args.json or text:
        print(json.dumps(document, indent=2) if args.json else text)
    return code


def _look_in_the_current_directory() -> None:
    """`validate` and `next` import the jobs module: find it from the current directory, as gunicorn
    and `python -m` do (the console script alone would not look there).

    Appended, not put first, and only a directory of this user or root that nobody else may write
    to: `sudo scheduler-proc validate` in someone else's directory must not import their code.
    """
    here = os.getcwd()
    if "" in sys.path or here in sys.path:
        return
    st = os.stat(here)
    if st.st_uid in (0, os.geteuid()) and not st.st_mode & 0o022:
        sys.path.append(here)


def _operate(settings: Settings, args: argparse.Namespace) -> tuple[int, Any, str]:
    return _run(Operations(settings), args)


#: Commands that read the jobs module itself, not the running scheduler.
_LOCAL_COMMANDS = {"next": _next, "validate": _validate}
