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

#: A job's last outcome as status pages show it: what the ledger recorded, or ``unknown`` when
#: the fire's record expired (its retention ended) or holds a word this version does not know.
LastOutcome = Literal[RunOutcome, "unknown"]
LAST_OUTCOMES: tuple[LastOutcome, ...] = get_args(LastOutcome)

#: What became of an operator's "run now" (a command ack's ``result``).
ManualRunResult = Literal["ran", "queued", "already-ran", "refused"]
MANUAL_RUN_RESULTS: tuple[ManualRunResult, ...] = get_args(ManualRunResult)

#: What an operator may ask the leader to do with a job.
CommandAction = Literal["run", "pause", "resume"]
COMMAND_ACTIONS: tuple[CommandAction, ...] = get_args(CommandAction)

#: Where a run came from, its ``origin``: its schedule, or an operator's run now. The stored run
#: history keeps it under 0.1.0's key ``trigger`` (see :mod:`.history`).
RunOrigin = Literal["schedule", "manual"]
RUN_ORIGINS: tuple[RunOrigin, ...] = get_args(RunOrigin)


def last_outcome(word: object) -> LastOutcome:
    """A stored outcome as status pages show it: ``unknown`` for anything that is not a run outcome
    (a record that expired, or a later version's word: a reader never fails on it)."""
    for outcome in RUN_OUTCOMES:
        if word == outcome:
            return outcome
    return "unknown"


def command_action(word: str) -> CommandAction:
    """``word`` as a command action; ValueError naming the actions there are."""
    for action in COMMAND_ACTIONS:
        if word == action:
            return action
    raise ValueError(f"unknown action {word!r}; use one of {', '.join(COMMAND_ACTIONS)}")
