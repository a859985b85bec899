"""Operator commands (run now, pause, resume) carried from any worker to the leader, and acknowledged.

Single-host mode uses a private directory beside the host lock; cluster mode a Redis
stream. Commands expire after ``COMMAND_TTL`` seconds so an old "run now" never fires
hours later, and a "run now" is claimed like any fire, so a command handled twice
(a leader died mid-way) still runs once.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, cast

from scheduler_proc.contracts import CommandAck
from scheduler_proc.coordination.decode import readable, report, stream_id, typed
from scheduler_proc.coordination.hints import Hints
from scheduler_proc.coordination.keys import Keys
from scheduler_proc.coordination.redis_conn import Client, call
from scheduler_proc.errors import SchedulerError, UnreadableData
from scheduler_proc.securedir import ensure_private_dir, write_private
from scheduler_proc.settings import RedisSettings, Settings

ACTIONS = ("run", "pause", "resume")
COMMAND_TTL = 30.0
_ACK_TTL = 60
#: The leader reads the command stream when a hint comes, and at least this often besides (a
#: hint lost with a broken subscription); polling it four times a second was most of what an
#: idle leader sent Redis.
_READ_AT_LEAST_EVERY = 10.0
_PAGE = 100  # stream entries per read


@dataclass(frozen=True)
class Command:
    """One operator request for the leader."""

    id: str
    action: str
    job_id: str
    issued_at: float
    #: Where the bus keeps it (stream entry id or file path): ``ack`` moves past it once it is carried out.
    cursor: str = field(default="", compare=False)

    def fields(self) -> dict[str, Any]:
        """What goes on the bus (not where the bus keeps it)."""
        return {"id": self.id, "action": self.action, "job_id": self.job_id, "issued_at": self.issued_at}

    @property
    def expired(self) -> bool:
        return time.time() - self.issued_at > COMMAND_TTL

    def manual_fire_time(self) -> datetime:
        """The fire identity of a 'run now': the issue time with an odd microsecond.

        Scheduled fires fall on multiples of 100 ms (even microseconds), so the two
        kinds of claim can never collide.
        """
        micros = int(self.issued_at * 1_000_000) | 1
        return datetime.fromtimestamp(micros / 1_000_000, tz=UTC).replace(microsecond=micros % 1_000_000)

    @classmethod
    def new(cls, action: str, job_id: str) -> Command:
        return cls(uuid.uuid4().hex[:16], action, job_id, time.time())


class CommandBus(Protocol):
    """Carries commands to the leader and answers back."""

    def submit(self, command: Command) -> None:
        """Queue a command for the leader (any process)."""
        ...

    def wait_ack(self, command: Command, timeout: float) -> CommandAck | None:
        """The leader's answer, or None if none came within ``timeout`` seconds."""
        ...

    def due(self) -> bool:
        """On the leader: whether commands may be waiting (``receive`` is worth a call now)."""
        ...

    def rewind(self) -> None:
        """On the leader, as a term begins: read from the shared cursor at once (another leader may
        have moved it since this process last led)."""
        ...

    def receive(self) -> list[Command]:
        """On the leader: commands not yet carried out, oldest first (they stay queued until acked)."""
        ...

    def ack(self, command: Command, result: CommandAck) -> None:
        """On the leader: answer a command and take it off the queue (only once it is carried out)."""
        ...


class LocalBus:
    """Files in a private directory: ``<id>.cmd`` for requests, ``<id>.ack`` for answers."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory

    def submit(self, command: Command) -> None:
        write_private(
            self.dir / f"{int(command.issued_at * 1e6)}-{command.id}.cmd", json.dumps(command.fields()).encode()
        )

    def wait_ack(self, command: Command, timeout: float) -> CommandAck | None:
        path = self.dir / f"{command.id}.ack"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if path.exists():
                text = path.read_text()
                path.unlink(missing_ok=True)
                return _ack(text)
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
                commands.append(Command(**json.loads(path.read_text()), cursor=str(path)))
            except (OSError, ValueError, TypeError):  # half-written or foreign: dropped
                path.unlink(missing_ok=True)
        for stale in self.dir.glob("*.ack"):
            if time.time() - stale.stat().st_mtime > _ACK_TTL:
                stale.unlink(missing_ok=True)
        return commands

    def ack(self, command: Command, result: CommandAck) -> None:
        write_private(self.dir / f"{command.id}.ack", json.dumps(result).encode())
        if command.cursor:
            Path(command.cursor).unlink(missing_ok=True)


class RedisBus:
    """A Redis stream; the leader reads after the last id any leader processed."""

    def __init__(self, settings: RedisSettings, client: Client, keys: Keys) -> None:
        self._settings = settings
        self._client = client
        self._keys = keys
        self._hints = Hints(client, keys.commands_hint)
        self._unread = True  # a new leader reads at once: commands may wait from before its term
        self._read_at = float("-inf")
        self._known_cursor: str | None = None  # within a term only this leader moves the cursor

    def rewind(self) -> None:
        self._unread, self._known_cursor = True, None

    def submit(self, command: Command) -> None:
        """Queue the command, then hint the leader (a lost hint only delays it to the leader's next read)."""
        fields: dict[Any, Any] = command.fields()
        key = self._keys.commands
        typed(
            self._settings,
            self._client,
            key,
            "stream",
            lambda: self._client.xadd(key, fields, maxlen=1000, approximate=True),
        )
        with contextlib.suppress(SchedulerError):
            call(self._settings, lambda: self._client.publish(self._keys.commands_hint, command.id))

    def wait_ack(self, command: Command, timeout: float) -> CommandAck | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            raw = call(self._settings, lambda: self._client.get(self._keys.ack(command.id)))
            if raw is not None:
                return _ack(str(raw))
            time.sleep(0.05)
        return None

    def due(self) -> bool:
        """A hint came, a read failed or was never made, or the last one is _READ_AT_LEAST_EVERY old."""
        if self._hints.heard():
            self._unread = True
        return self._unread or time.monotonic() - self._read_at >= _READ_AT_LEAST_EVERY

    def receive(self) -> list[Command]:
        """Commands after the cursor; an unreadable cursor or stream is logged once, never fatal."""
        commands = self._read()
        # After the read, so a failed one is tried again; a full page leaves more to read.
        self._unread, self._read_at = len(commands) >= _PAGE, time.monotonic()
        return commands

    def _read(self) -> list[Command]:
        keys = self._keys
        try:
            cursor = self._known_cursor or self._cursor()
            start = f"({cursor}" if cursor else f"{int((time.time() - COMMAND_TTL) * 1000)}-0"
            entries: Any = typed(
                self._settings,
                self._client,
                keys.commands,
                "stream",
                lambda: self._client.xrange(keys.commands, min=start, count=_PAGE),
            )
        except UnreadableData as exc:
            report(exc)
            return []
        readable(keys.commands)
        commands, malformed = [], None
        for entry_id, fields in entries or []:
            command = _command(str(entry_id), fields)
            if command is not None:
                commands.append(command)
            elif not commands:
                malformed = str(entry_id)  # skipped; later ones are passed when a command after them is acked
        if malformed is not None:
            self._move_cursor(malformed)
        return commands

    def ack(self, command: Command, result: CommandAck) -> None:
        """Answer, then move the cursor past the command: a leader that dies before carrying a command
        out leaves it for the next one (a 'run now' seen twice still runs once: its fire is claimed)."""
        call(self._settings, lambda: self._client.set(self._keys.ack(command.id), json.dumps(result), ex=_ACK_TTL))
        self._move_cursor(command.cursor)

    def _cursor(self) -> str | None:
        """The last command carried out; an unreadable one counts as none (the next ack replaces it)."""
        key = self._keys.commands_cursor
        try:
            cursor = stream_id(key, typed(self._settings, self._client, key, "string", lambda: self._client.get(key)))
        except UnreadableData as exc:
            report(exc)
            return None
        readable(key)
        return cursor

    def _move_cursor(self, entry_id: str) -> None:
        call(self._settings, lambda: self._client.set(self._keys.commands_cursor, entry_id))
        self._known_cursor = entry_id


def open_bus(settings: Settings, client: Client | None = None) -> CommandBus:
    """The bus for this mode (the local directory is created 0700 next to the host lock)."""
    if settings.redis is not None:
        assert client is not None
        return RedisBus(settings.redis, client, Keys(settings.namespace))
    directory = settings.lock_dir / f"{settings.namespace}.commands"
    return LocalBus(ensure_private_dir(directory, "SCHEDULER_LOCK_DIR"))


def _command(entry_id: str, fields: dict[str, str]) -> Command | None:
    """A command from a stream entry; None for a malformed one (skipped; the cursor moves past it).

    Anyone who can write to Redis can put entries here: an issue time that is not a finite
    time within the last day and the next minute is refused like a missing field.
    """
    try:
        issued = float(fields["issued_at"])
        command = Command(str(fields["id"]), str(fields["action"]), str(fields["job_id"]), issued, entry_id)
    except (KeyError, ValueError, TypeError):
        return None
    if not math.isfinite(issued) or not time.time() - 86400 < issued < time.time() + 60:
        return None
    return command


def _ack(text: str) -> CommandAck:
    """An answer read back from the bus; anything but a JSON object with a boolean ``ok`` is a failure."""
    try:
        answer = json.loads(text)
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or not isinstance(answer.get("ok"), bool):
        return {"ok": False, "error": "the leader's answer could not be read"}
    return cast(CommandAck, answer)
