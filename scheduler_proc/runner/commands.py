"""Carrying out operator commands on the leader (the bus that brings them is in coordination)."""

from __future__ import annotations

from scheduler_proc.coordination.interfaces import Ledger
from scheduler_proc.coordination.records import ACTIONS, COMMAND_TTL, Command
from scheduler_proc.formats.acks import CommandAck
from scheduler_proc.runner.engine import Engine


def apply(command: Command, engine: Engine, ledger: Ledger) -> CommandAck:
    """Carry out one command on the leader; the answer goes back to whoever asked."""
    if command.expired:
        return {"ok": False, "error": f"the command expired after {COMMAND_TTL:g}s without a leader to take it"}
    if command.job_id not in engine.specs:
        return {"ok": False, "error": f"unknown job {command.job_id!r}"}
    if command.action == "pause":
        ledger.set_paused(command.job_id, True)
        engine.pause(command.job_id)
        return {"ok": True, "job_id": command.job_id, "paused": True}
    if command.action == "resume":
        ledger.set_paused(command.job_id, False)
        engine.resume(command.job_id)
        return {"ok": True, "job_id": command.job_id, "paused": False}
    if command.action == "run":
        scheduled_at = command.manual_fire_time()
        run = engine.run_now(command.job_id, scheduled_at)
        answer: CommandAck = {
            "ok": run.ok,
            "job_id": command.job_id,
            "run_id": run.run_id,
            "scheduled_at": scheduled_at.isoformat(),
            "result": run.outcome,
            "reason": run.reason,
        }
        return answer if run.ok else {**answer, "error": f"not run: {run.reason}"}
    return {"ok": False, "error": f"unknown action {command.action!r}; use one of {', '.join(ACTIONS)}"}
