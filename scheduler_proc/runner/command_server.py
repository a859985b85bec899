"""Serving operators' commands on the leader: read the bus, carry each out, answer it.

Only the leader serves, so each command is acted on once; a command that fails answers with
the error and never stops the leader, while Redis trouble leaves it queued for the next try.
"""

from __future__ import annotations

import logging
import time

from scheduler_proc.coordination.backend import Backend
from scheduler_proc.errors import SchedulerError
from scheduler_proc.runner.commands import apply
from scheduler_proc.runner.engine import Engine

log = logging.getLogger("scheduler.runner")

#: The bus is read at most this often (each read costs the shared Redis a round trip).
COMMANDS_EVERY = 0.2


class CommandServer:
    """Reads the command bus on the runner's loop, at most every ``COMMANDS_EVERY`` seconds."""

    def __init__(self) -> None:
        self._served_at = 0.0

    def serve_if_due(self, backend: Backend, engine: Engine) -> None:
        """Carry out the waiting commands, if it is time to look and the bus says some may wait."""
        if time.monotonic() - self._served_at > COMMANDS_EVERY and backend.bus.due():
            self._served_at = time.monotonic()
            self._serve(backend, engine)

    def _serve(self, backend: Backend, engine: Engine) -> None:
        """Carry out operators' commands; only the leader does, so each is acted on once."""
        try:
            for command in backend.bus.receive():
                try:
                    result = apply(command, engine, backend.ledger)
                except SchedulerError:
                    raise  # Redis trouble: the command stays queued and is tried again
                except Exception as exc:  # a bad command must not stop the leader (nor the next one)
                    log.exception("command %s id=%s failed", command.action, command.id)
                    result = {"ok": False, "error": f"the leader could not carry it out: {type(exc).__name__}"}
                log.info(
                    "command %s job=%s id=%s: %s",
                    command.action,
                    command.job_id,
                    command.id,
                    result.get("result", "done") if result.get("ok") else result.get("error"),
                )
                backend.bus.ack(command, result)
        except SchedulerError as exc:
            log.warning("could not read operator commands: %s", exc)
