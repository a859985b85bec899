"""The report pipes: one JSON object per line, runner to supervisor and supervisor to master.

A child says whether the jobs module loaded (``valid`` with ``jobs``, or ``invalid`` with a
``message``), and a runner then beats once a second. The reader skips a line it cannot read:
a child's stray write must not take its parent down.
"""

from __future__ import annotations

import json
from typing import Literal, Required, TypedDict, get_args

from scheduler_proc.formats.validate import Fields, Source, parse_json

ReportEvent = Literal["valid", "invalid", "beat"]
REPORT_EVENTS: tuple[ReportEvent, ...] = get_args(ReportEvent)


class Report(TypedDict, total=False):
    """One line on a report pipe."""

    event: Required[ReportEvent]
    message: str | None  # why the jobs could not be loaded ("invalid")
    jobs: int  # how many jobs loaded ("valid")


#: Whose pipe it is does not change what a bad line means: a child wrote something else there.
REPORT_PIPE = Source("report pipe", "the line is skipped; a child process wrote something else on its report pipe")


def encode_report(report: Report) -> bytes:
    """One line for the pipe (the keys as given: a ``message`` of None is written as null)."""
    return (json.dumps(report) + "\n").encode()


def decode_report(line: bytes) -> Report:
    """The report on one line (without its newline); UnreadableData when it is not one."""
    fields = Fields(REPORT_PIPE, parse_json(REPORT_PIPE, line))
    report = Report(event=fields.choice("event", REPORT_EVENTS))
    if fields.has("message"):
        report["message"] = fields.optional_text("message")
    if fields.has("jobs"):
        report["jobs"] = fields.integer("jobs")
    return report
