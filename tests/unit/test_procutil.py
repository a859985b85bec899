"""Process plumbing shared by the master, the supervisor and the runner (scheduler_proc/procutil.py):
the report pipe, on real pipes, and exit descriptions. spawn_reporting_child is pinned with real
children in tests/unit/supervisor/test_process.py and tests/unit/runner/test_process.py."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator

import pytest

from scheduler_proc.formats.reports import Report
from scheduler_proc.procutil import ReportReader, describe_exit, send_report, wait_report


@pytest.fixture
def pipe() -> Iterator[tuple[ReportReader, int]]:
    read_fd, write_fd = os.pipe()
    reader = ReportReader(read_fd)
    yield reader, write_fd
    reader.close()
    with contextlib.suppress(OSError):  # a test may have closed it already
        os.close(write_fd)


def test_reports_are_read_whole_and_anything_else_on_the_pipe_is_skipped(pipe: tuple[ReportReader, int]) -> None:
    reader, write_fd = pipe
    send_report(write_fd, Report(event="valid", jobs=3))
    os.write(write_fd, b'not json\n{"event": "made-up"}\n["valid"]\n{"event": "be')
    assert reader.poll() == [{"event": "valid", "jobs": 3}]
    os.write(write_fd, b'at"}\n')  # the rest of a line written in two pieces
    assert reader.poll() == [{"event": "beat"}] and reader.poll() == []
    assert not reader.closed


def test_a_closed_pipe_ends_the_wait_at_once(pipe: tuple[ReportReader, int]) -> None:
    reader, write_fd = pipe
    os.close(write_fd)
    started = time.monotonic()
    assert wait_report(reader, 10) is None and reader.closed
    assert time.monotonic() - started < 5
    reader.close()
    reader.close()  # twice: the second must not close a descriptor reused since


def test_a_wait_gives_up_when_interrupted_or_out_of_time(pipe: tuple[ReportReader, int]) -> None:
    reader, _ = pipe
    assert wait_report(reader, 10, interrupted=lambda: True) is None
    started = time.monotonic()
    assert wait_report(reader, 0.2) is None
    assert 0.15 < time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("returncode", "text"),
    [
        (None, "is still running"),
        (0, "exited with status 0"),
        (2, "exited with status 2"),
        (-signal.SIGKILL, "was killed by SIGKILL"),
        (-signal.SIGABRT, "was killed by SIGABRT"),
        (-200, "was killed by signal 200"),
    ],
)
def test_exits_are_described_for_log_lines(returncode: int | None, text: str) -> None:
    assert describe_exit(returncode) == text
