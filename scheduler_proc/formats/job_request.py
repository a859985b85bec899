"""The run request a runner writes on a job process's stdin (a ``def`` job with a timeout runs in a
process of its own; see ``runner.calling`` and ``scheduler_proc.job_process``).

It carries what the job's ``RunContext`` needs, the runner's ``sys.path`` (the job process
imports the jobs module as the runner did), the runner's pid (the job process dies with it)
and the pipe on which it reports the job's exception.
"""

from __future__ import annotations

import json
from typing import TypedDict

from scheduler_proc.formats.validate import Fields, Source, parse_json


class JobRequest(TypedDict):
    """One run of one job, for its own process."""

    path: list[str]  # the runner's sys.path
    job_id: str
    scheduled_at: str  # ISO 8601 with offset: the fire's identity
    node: str
    fencing_token: int | None
    run_id: str
    parent: int  # the runner's pid
    result_fd: int  # the write end of the pipe for the job's exception


#: The request comes from the runner that started this process: a bad one is a bug of the kit.
JOB_REQUEST = Source("the run request on stdin", "a job process is started by the runner only")


def encode_job_request(request: JobRequest) -> str:
    return json.dumps(request)


def decode_job_request(raw: str) -> JobRequest:
    fields = Fields(JOB_REQUEST, parse_json(JOB_REQUEST, raw))
    return JobRequest(
        path=fields.texts("path"),
        job_id=fields.text("job_id"),
        scheduled_at=fields.text("scheduled_at"),
        node=fields.text("node"),
        fencing_token=fields.optional_integer("fencing_token"),
        run_id=fields.text("run_id"),
        parent=fields.integer("parent"),
        result_fd=fields.integer("result_fd"),
    )
