"""The report pipes' lines: round trips, what the previous code wrote, and every refused shape."""

from __future__ import annotations

import pytest

from scheduler_proc.errors import UnreadableData
from scheduler_proc.formats.reports import Report, decode_report, encode_report


@pytest.mark.parametrize(
    "report",
    [Report(event="beat"), Report(event="valid", jobs=3), Report(event="invalid", message="no module named x")],
)
def test_a_report_round_trips_as_one_line(report: Report) -> None:
    line = encode_report(report)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert decode_report(line.rstrip(b"\n")) == report


@pytest.mark.parametrize(
    ("line", "report"),
    [
        (b'{"event": "valid", "jobs": 4}', Report(event="valid", jobs=4)),
        (b'{"event": "beat"}', Report(event="beat")),
        (
            b'{"event": "invalid", "message": "SCHEDULER_JOBS=...: boom"}',
            Report(event="invalid", message="SCHEDULER_JOBS=...: boom"),
        ),
        # the supervisor passes the runner's verdict on with its message, None for a valid one
        (b'{"event": "valid", "message": null}', Report(event="valid", message=None)),
    ],
)
def test_lines_the_previous_code_wrote_decode(line: bytes, report: Report) -> None:
    assert decode_report(line) == report


def test_the_supervisors_pass_on_keeps_its_bytes() -> None:
    assert encode_report(Report(event="valid", message=None)) == b'{"event": "valid", "message": null}\n'
    assert encode_report(Report(event="valid", jobs=2)) == b'{"event": "valid", "jobs": 2}\n'


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"Traceback (most recent", "report pipe holds 'Traceback (most recent', not JSON"),
        (b'["beat"]', "not a JSON object"),
        (b'{"event": "hello"}', "holds 'hello' for event, not one of valid, invalid, beat"),
        (b'{"jobs": 1}', "has no event "),
        (b'{"event": "valid", "jobs": "3"}', "holds '3' for jobs, not a whole number"),
        (b'{"event": "invalid", "message": 7}', "holds '7' for message, not a string or null"),
    ],
)
def test_a_line_of_another_shape_is_refused_and_named(line: bytes, message: str) -> None:
    with pytest.raises(UnreadableData, match="the line is skipped") as caught:
        decode_report(line)
    assert message in str(caught.value)


def test_a_report_pipe_carries_reports_and_skips_what_is_no_report() -> None:
    """Through a real pipe: send_report writes, ReportReader keeps the reports and skips the rest."""
    import os

    from scheduler_proc.procutil import ReportReader, send_report

    read_fd, write_fd = os.pipe()
    reader = ReportReader(read_fd)
    try:
        send_report(write_fd, Report(event="valid", jobs=2))
        os.write(write_fd, b'stray output\n{"event": "nope"}\n')
        send_report(write_fd, Report(event="beat"))
        os.close(write_fd)
        assert reader.poll() == [Report(event="valid", jobs=2), Report(event="beat")]
        assert reader.closed
    finally:
        reader.close()
