"""The command bus of cluster mode on PostgreSQL: a table of commands, read by the leader after
the last id any leader carried out.

Answers are rows that expire after ``ACK_TTL`` seconds. A NOTIFY on ``<schema>_commands``
(sent by the submitting statement, delivered at its commit) wakes the leader, which otherwise
reads the table only every ``_READ_AT_LEAST_EVERY`` seconds.
"""

from __future__ import annotations

import json
import time

from scheduler_proc.coordination.postgres.conn import Client
from scheduler_proc.coordination.postgres.notices import CommandNotices
from scheduler_proc.coordination.postgres.statements import Statements
from scheduler_proc.coordination.records import ACK_TTL, COMMAND_TTL, Command, command_from_entry, parse_ack
from scheduler_proc.formats.acks import CommandAck, encode_ack
from scheduler_proc.formats.commands import encode_command_entry
from scheduler_proc.settings import PostgresSettings

#: The leader reads the commands when a notice comes, and at least this often besides (a notice
#: lost with a dropped connection): an idle leader sends one statement per this many seconds.
_READ_AT_LEAST_EVERY = 10.0
_PAGE = 100  # commands per read
_POLL = 0.05  # seconds between looks for an answer

_SUBMIT = "SELECT {schema}.submit(%s::jsonb)"
_ANSWER = "SELECT answer FROM {schema}.acks WHERE command_id = %s AND expires_at > clock_timestamp()"
_RECEIVE = """SELECT id, fields FROM {schema}.commands
  WHERE id > coalesce((SELECT last_id FROM {schema}.bus_cursor WHERE id = 1), 0)
    AND issued_at > clock_timestamp() - %s * interval '1 millisecond'
  ORDER BY id LIMIT %s"""
_ACK = "SELECT {schema}.ack(%s::text, %s::text, %s::bigint, %s::bigint, %s::bigint)"


class PostgresBus:
    """A table of commands; the leader reads after the last id any leader carried out."""

    def __init__(
        self, settings: PostgresSettings, client: Client, application_name: str = "scheduler-proc/bus"
    ) -> None:
        self._rows = Statements(client).rows
        self._notices = CommandNotices(settings, application_name)
        self._unread = True  # a new leader reads at once: commands may wait from before its term
        self._read_at = float("-inf")

    def rewind(self) -> None:
        self._unread = True

    def submit(self, command: Command) -> None:
        """Queue the command and notify the leader, in one statement."""
        self._rows(_SUBMIT, (json.dumps(encode_command_entry(command.fields())),))

    def wait_ack(self, command: Command, timeout: float) -> CommandAck | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self._rows(_ANSWER, (command.id,))
            if rows:
                return parse_ack(str(rows[0][0]))
            time.sleep(_POLL)
        return None

    def due(self) -> bool:
        """A notice came, a read failed or was never made, or the last one is _READ_AT_LEAST_EVERY old."""
        if self._notices.heard():
            self._unread = True
        return self._unread or time.monotonic() - self._read_at >= _READ_AT_LEAST_EVERY

    def receive(self) -> list[Command]:
        """Commands after the cursor, at most COMMAND_TTL old, oldest first; a malformed one is skipped."""
        rows = self._rows(_RECEIVE, (int(COMMAND_TTL * 1000), _PAGE))
        # After the read, so a failed one is tried again; a full page leaves more to read.
        self._unread, self._read_at = len(rows) >= _PAGE, time.monotonic()
        commands: list[Command] = []
        malformed: int | None = None
        for command_id, fields in rows:
            command = command_from_entry(str(command_id), fields if isinstance(fields, dict) else {})
            if command is not None:
                commands.append(command)
            elif not commands:
                malformed = int(command_id)  # skipped; later ones are passed when a command after them is acked
        if malformed is not None:
            self._rows(_ACK, ("", "", 0, malformed, int(COMMAND_TTL * 1000)))
        return commands

    def ack(self, command: Command, result: CommandAck) -> None:
        """Answer, move the cursor past the command and clear expired commands and answers, in one
        statement: a leader that dies before carrying a command out leaves it for the next one (a
        'run now' seen twice still runs once: its fire is claimed)."""
        self._rows(_ACK, (command.id, encode_ack(result), ACK_TTL * 1000, int(command.cursor), int(COMMAND_TTL * 1000)))

    def close(self) -> None:
        """Close the connection that listens for notices (the client is the caller's)."""
        self._notices.close()
