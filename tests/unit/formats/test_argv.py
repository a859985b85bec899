"""The supervisor's and the runner's command lines: built and parsed in one module."""

from __future__ import annotations

import pytest

from scheduler_proc.formats.argv import (
    REPORT_FD,
    RunnerArgs,
    SupervisorArgs,
    decode_runner_args,
    decode_supervisor_args,
    encode_runner_args,
    encode_supervisor_args,
)


@pytest.mark.parametrize("candidate", [False, True])
def test_the_runners_arguments_round_trip(candidate: bool) -> None:
    argv = [*encode_runner_args(12, 10, 30.0, candidate), REPORT_FD, "7"]
    assert decode_runner_args(argv) == RunnerArgs(12, 10, 7, 30.0, candidate)


def test_the_supervisors_arguments_round_trip() -> None:
    argv = [*encode_supervisor_args(10, 2.5), REPORT_FD, "5"]
    assert decode_supervisor_args(argv) == SupervisorArgs(master_pid=10, report_fd=5, default_grace=2.5)


def test_the_command_lines_are_those_the_previous_code_built() -> None:
    """A supervisor of this version may start a runner of the next during a release switch: same flags."""
    assert encode_runner_args(12, 10, 30.0, True) == [
        "--parent-pid", "12", "--master-pid", "10", "--default-grace", "30.0", "--candidate",
    ]  # fmt: skip
    assert encode_supervisor_args(10, 30.0) == ["--master-pid", "10", "--default-grace", "30.0"]
    old = ["--parent-pid", "12", "--master-pid", "10", "--default-grace", "30.0", "--report-fd", "5"]
    assert decode_runner_args(old) == RunnerArgs(12, 10, 5, 30.0, False)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--master-pid", "10", "--default-grace", "1"], "the following arguments are required: --report-fd"),
        (["--master-pid", "ten", "--report-fd", "5", "--default-grace", "1"], "--master-pid: invalid int value: 'ten'"),
        (["--master-pid", "1", "--report-fd", "5", "--default-grace", "x"], "--default-grace: invalid float value"),
    ],
)
def test_a_bad_supervisor_command_line_exits_2_naming_the_flag(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        decode_supervisor_args(argv)
    assert caught.value.code == 2 and message in capsys.readouterr().err


def test_a_bad_runner_command_line_exits_2_naming_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        decode_runner_args(["--parent-pid", "1", "--master-pid", "2", "--report-fd", "3"])
    assert caught.value.code == 2 and "--default-grace" in capsys.readouterr().err
