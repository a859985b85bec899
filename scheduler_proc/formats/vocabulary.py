"""The words the processes and stores share, as Literals: roles, modes, run outcomes, manual-run
results and command actions. Each tuple beside a Literal is its words, for validators and messages."""

from __future__ import annotations

from typing import Literal, get_args

#: What a node's scheduler is doing (the status file's ``role``).
Role = Literal["leader", "standby"]
ROLES: tuple[Role, ...] = get_args(Role)

#: How the kit coordinates: one host with a lock file, or a cluster with a Redis lease.
Mode = Literal["single-host", "cluster"]
MODES: tuple[Mode, ...] = get_args(Mode)

#: What became of a claimed fire, as the ledger records it; ``running`` until it ends.
RunOutcome = Literal["running", "success", "error", "timed_out", "abandoned", "skipped"]
RUN_OUTCOMES: tuple[RunOutcome, ...] = get_args(RunOutcome)

#: What became of an operator's "run now" (a command ack's ``result``).
ManualRunResult = Literal["ran", "queued", "already-ran", "refused"]
MANUAL_RUN_RESULTS: tuple[ManualRunResult, ...] = get_args(ManualRunResult)

#: What an operator may ask the leader to do with a job.
CommandAction = Literal["run", "pause", "resume"]
COMMAND_ACTIONS: tuple[CommandAction, ...] = get_args(CommandAction)

#: Where a run came from: its schedule, or an operator's "run now" (stored as a run's ``trigger``).
RunOrigin = Literal["schedule", "manual"]
RUN_ORIGINS: tuple[RunOrigin, ...] = get_args(RunOrigin)


def command_action(word: str) -> CommandAction:
    """``word`` as a command action; ValueError naming the actions there are."""
    for action in COMMAND_ACTIONS:
        if word == action:
            return action
    raise ValueError(f"unknown action {word!r}; use one of {', '.join(COMMAND_ACTIONS)}")
