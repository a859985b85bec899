"""The command bus of cluster mode: a Redis stream, read by the leader after the last id any leader carried out.

Answers are plain keys that expire after ``ACK_TTL`` seconds; a pub/sub hint wakes the
leader, which otherwise reads the stream only every ``_READ_AT_LEAST_EVERY`` seconds.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from scheduler_proc.coordination.records import ACK_TTL, COMMAND_TTL, Command, command_from_entry, parse_ack
from scheduler_proc.coordination.redis.conn import Client, call
from scheduler_proc.coordination.redis.decode import stream_id, typed
from scheduler_proc.coordination.redis.hints import Hints
from scheduler_proc.coordination.redis.keys import Keys
from scheduler_proc.coordination.redis.schema import COMMANDS_KEPT
from scheduler_proc.coordination.unreadable import readable, report
from scheduler_proc.errors import SchedulerError, UnreadableData
from scheduler_proc.formats.acks import CommandAck, encode_ack
from scheduler_proc.formats.commands import encode_command_entry
from scheduler_proc.settings import RedisSettings

#: The leader reads the command stream when a hint comes, and at least this often besides (a
#: hint lost with a broken subscription); polling it four times a second was most of what an
#: idle leader sent Redis.
_READ_AT_LEAST_EVERY = 10.0
_PAGE = 100  # stream entries per read


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
        fields: dict[Any, Any] = encode_command_entry(command.fields())
        key = self._keys.commands
        typed(
            self._settings,
            self._client,
            key,
            "stream",
            lambda: self._client.xadd(key, fields, maxlen=COMMANDS_KEPT, approximate=True),
        )
        with contextlib.suppress(SchedulerError):
            call(self._settings, lambda: self._client.publish(self._keys.commands_hint, command.id))

    def wait_ack(self, command: Command, timeout: float) -> CommandAck | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            raw = call(self._settings, lambda: self._client.get(self._keys.ack(command.id)))
            if raw is not None:
                return parse_ack(str(raw))
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
            command = command_from_entry(str(entry_id), fields)
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
        call(self._settings, lambda: self._client.set(self._keys.ack(command.id), encode_ack(result), ex=ACK_TTL))
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

    def close(self) -> None:
        """Nothing of its own to release (the client is the ledger's)."""
