"""One run of a plain ``def`` job with a timeout, in a process of its own (see scheduler_proc.runner.calling).

The runner writes the run as JSON on stdin; this process imports the jobs module as the
runner did (same ``sys.path``, same environment), calls the job, and exits 0 on success or
1 after writing a one-line summary of the job's exception to the result pipe. It dies with
the runner (SIGTERM when its parent goes), and ``ctx.is_current()`` is True while the runner
that started it lives.
"""

from __future__ import annotations

import os
import sys
import traceback
from datetime import datetime

from scheduler_proc.formats.job_request import decode_job_request
from scheduler_proc.jobs import RunContext
from scheduler_proc.loader import load_jobs
from scheduler_proc.logs import configure_kit_logging, extend_to_root, mask_output
from scheduler_proc.procutil import die_with_parent
from scheduler_proc.redact import error_summary
from scheduler_proc.settings import Settings


def main() -> int:
    request = decode_job_request(sys.stdin.read())
    result_fd = request["result_fd"]
    os.set_inheritable(result_fd, False)  # a process the job starts must not hold the pipe open
    parent = request["parent"]
    if not die_with_parent(parent):
        return 1
    settings = Settings.from_env()  # also learns the secrets to mask
    mask_output()  # the job's print() and stderr mask known secrets, as in the runner
    configure_kit_logging(settings.log_level, settings.log_format)
    sys.path[:] = request["path"]
    spec = load_jobs(settings.jobs_ref).get(request["job_id"])  # the app's logging setup applies, as in the runner
    extend_to_root()
    if spec is None:
        return _failed(result_fd, f"job {request['job_id']!r} is not in SCHEDULER_JOBS={settings.jobs_ref!r}")
    ctx = RunContext(
        spec.id,
        datetime.fromisoformat(request["scheduled_at"]),
        request["node"],
        request["fencing_token"],
        request["run_id"],
        lambda: os.getppid() == parent,
    )
    try:
        spec.func(*((ctx,) if spec.wants_context else ()))
    except BaseException as exc:  # reported to the runner, which records the run as failed
        traceback.print_exc()
        return _failed(result_fd, error_summary(exc))
    os.close(result_fd)
    return 0


def _failed(result_fd: int, summary: str) -> int:
    with os.fdopen(result_fd, "w", encoding="utf-8") as result:
        result.write(summary)
    return 1


if __name__ == "__main__":
    sys.exit(main())
