"""The command bus of single-host mode: files in a private directory beside the host lock.

A request is ``<issued µs>-<id>.cmd`` (sorted: oldest first), its answer ``<id>.ack``; the
leader deletes a request once it is carried out, and answers nobody collected after
``ACK_TTL`` seconds.
"""

from __future__ import annotations

import time
from pathlib import Path

from scheduler_proc.coordination.records import ACK_TTL, Command, parse_ack
from scheduler_proc.errors import UnreadableData
from scheduler_proc.formats.acks import CommandAck, encode_ack
from scheduler_proc.formats.commands import decode_command_file, encode_command_file
from scheduler_proc.formats.validate import Source
from scheduler_proc.securedir import write_private


class LocalBus:
    """Files in a private directory: ``<id>.cmd`` for requests, ``<id>.ack`` for answers."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory

    def submit(self, command: Command) -> None:
        path = self.dir / f"{int(command.issued_at * 1e6)}-{command.id}.cmd"
        write_private(path, encode_command_file(command.fields()))

    def wait_ack(self, command: Command, timeout: float) -> CommandAck | None:
        path = self.dir / f"{command.id}.ack"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if path.exists():
                text = path.read_text()
                path.unlink(missing_ok=True)
                return parse_ack(text)
            time.sleep(0.05)
        return None

    def due(self) -> bool:
        """Listing a private directory costs no shared server anything: always."""
        return True

    def rewind(self) -> None:
        """Nothing to rewind: handled commands are deleted."""

    def receive(self) -> list[Command]:
        commands = []
        for path in sorted(self.dir.glob("*.cmd")):
            try:
                fields = decode_command_file(path.read_bytes(), Source(f"command file {path}", "it is dropped"))
            except (OSError, UnreadableData):  # half-written or foreign: dropped
                path.unlink(missing_ok=True)
                continue
            commands.append(Command.from_fields(fields, cursor=str(path)))
        for stale in self.dir.glob("*.ack"):
            if time.time() - stale.stat().st_mtime > ACK_TTL:
                stale.unlink(missing_ok=True)
        return commands

    def ack(self, command: Command, result: CommandAck) -> None:
        write_private(self.dir / f"{command.id}.ack", encode_ack(result).encode())
        if command.cursor:
            Path(command.cursor).unlink(missing_ok=True)

    def close(self) -> None:
        """Nothing to release: the bus is files in a directory."""
