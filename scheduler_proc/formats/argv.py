"""The command lines the kit starts its processes with: master -> supervisor -> runner.

Each side builds and parses them here, so a flag renamed on one side cannot be missed on
the other. ``--report-fd`` is appended by ``procutil.spawn_reporting_child``, which makes
the pipe; the parsers require it. A bad command line exits with status 2 and argparse's
message naming the flag (these processes are only started by the kit).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

REPORT_FD = "--report-fd"


@dataclass(frozen=True)
class SupervisorArgs:
    """What the master tells the supervisor on its command line."""

    master_pid: int
    report_fd: int
    default_grace: float


@dataclass(frozen=True)
class RunnerArgs:
    """What the supervisor tells a runner on its command line."""

    parent_pid: int
    master_pid: int
    report_fd: int
    default_grace: float
    candidate: bool


def encode_supervisor_args(master_pid: int, default_grace: float) -> list[str]:
    """The supervisor's arguments, but the report pipe's."""
    return ["--master-pid", str(master_pid), "--default-grace", str(default_grace)]


def decode_supervisor_args(argv: list[str] | None) -> SupervisorArgs:
    """The supervisor's arguments (``sys.argv[1:]`` when None)."""
    parser = argparse.ArgumentParser(prog="python -m scheduler_proc.supervisor")
    parser.add_argument("--master-pid", type=int, required=True)
    parser.add_argument(REPORT_FD, type=int, required=True)
    parser.add_argument("--default-grace", type=float, required=True)
    return SupervisorArgs(**vars(parser.parse_args(argv)))


def encode_runner_args(parent_pid: int, master_pid: int, default_grace: float, candidate: bool) -> list[str]:
    """A runner's arguments, but the report pipe's."""
    argv = ["--parent-pid", str(parent_pid), "--master-pid", str(master_pid), "--default-grace", str(default_grace)]
    return argv + (["--candidate"] if candidate else [])


def decode_runner_args(argv: list[str] | None) -> RunnerArgs:
    """A runner's arguments (``sys.argv[1:]`` when None)."""
    parser = argparse.ArgumentParser(prog="python -m scheduler_proc.runner")
    parser.add_argument("--parent-pid", type=int, required=True)
    parser.add_argument("--master-pid", type=int, required=True)
    parser.add_argument(REPORT_FD, type=int, required=True)
    parser.add_argument("--default-grace", type=float, required=True)
    parser.add_argument("--candidate", action="store_true", help="a reload candidate: quiet until it leads")
    return RunnerArgs(**vars(parser.parse_args(argv)))
