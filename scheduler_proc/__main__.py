"""Command line: ``python -m scheduler_proc status | jobs | history JOB | run JOB | pause JOB | resume JOB | check``.

Run it with the service's environment (the same SCHEDULER_* variables). Tables by
default, ``--json`` for scripts. Exit status: 0 ok, 1 the check or command failed,
2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from scheduler_proc.errors import SchedulerError
from scheduler_proc.ops import Operations
from scheduler_proc.settings import Settings


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    cells = [[_show(row.get(column)) for column in columns] for row in rows]
    widths = [max([len(column), *(len(line[i]) for line in cells)]) for i, column in enumerate(columns)]
    lines = ["  ".join(column.upper().ljust(widths[i]) for i, column in enumerate(columns))]
    lines += ["  ".join(value.ljust(widths[i]) for i, value in enumerate(line)) for line in cells]
    return "\n".join(line.rstrip() for line in lines)


def _show(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, str) and len(value) >= 19 and value[4:5] == "-" and "T" in value:
        return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S%z")
    return str(value)


def _status_text(status: dict[str, Any]) -> str:
    cluster = status.get("cluster") or {}
    head = [
        f"node {status['node']}: {status['role']} ({status['mode']})",
        f"jobs run by pid {_show(status['pid'])} on this host; leader node {_show(status['leader_node'])}",
    ]
    if cluster:
        head.append(
            f"term {_show(cluster.get('term'))}, lease age {_show(cluster.get('lease_age'))}s, "
            f"redis {cluster.get('redis')}"
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
        return 0, status, _status_text(status)
    if args.command == "jobs":
        jobs = ops.jobs()
        return 0, jobs, _table(jobs, ["id", "trigger", "paused", "next_run_at", "last_run_at", "last_outcome"])
    if args.command == "history":
        job = ops.job(args.job, args.limit)
        return (
            0,
            job["history"],
            _table(job["history"], ["scheduled_at", "node", "term", "trigger", "duration", "outcome", "error"]),
        )
    if args.command == "check":
        ok, reason = ops.check()
        return (0 if ok else 1), {"ok": ok, "reason": reason}, ("OK: " if ok else "FAIL: ") + reason
    answer = ops.send(args.command, args.job)
    text = f"{args.command} {args.job}: " + ("done" if answer.get("ok") else str(answer.get("error")))
    if answer.get("run_id"):
        text += f" (run id {answer['run_id']})"
    return (0 if answer.get("ok") else 1), answer, text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scheduler_proc", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status", help="this host's scheduler and the cluster leader")
    sub.add_parser("jobs", help="jobs with next and last runs")
    history = sub.add_parser("history", help="recent runs of one job")
    history.add_argument("job")
    history.add_argument("--limit", type=int, default=20)
    for action in ("run", "pause", "resume"):
        sub.add_parser(action, help=f"{action} a job (sent to the leader)").add_argument("job")
    sub.add_parser("check", help="exit 1 unless this host's scheduler is up and the cluster has a leader")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code, document, text = _run(Operations(Settings.from_env()), args)
    except SchedulerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1 if args.command != "status" else 2
    print(json.dumps(document, indent=2) if args.json else text)
    return code


if __name__ == "__main__":
    sys.exit(main())
