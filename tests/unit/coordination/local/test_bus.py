"""The command bus of single-host mode (scheduler_proc/coordination/local/bus.py): files in a private
directory; requests oldest first, one answer per request, anything unreadable dropped."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from scheduler_proc.coordination.local.bus import LocalBus
from scheduler_proc.coordination.records import ACK_TTL, Command


def _bus(tmp_path: Path) -> LocalBus:
    (tmp_path / "bus").mkdir(mode=0o700)
    return LocalBus(tmp_path / "bus")


def test_requests_come_oldest_first_and_an_answer_reaches_the_one_who_asked(tmp_path: Path) -> None:
    bus = _bus(tmp_path)
    later, first = Command("b2", "pause", "t", time.time()), Command("a1", "run", "t", time.time() - 5)
    bus.submit(later)
    bus.submit(first)
    received = bus.receive()
    assert [c.id for c in received] == ["a1", "b2"] and received[0] == first  # the cursor is not compared
    answer = threading.Timer(0.1, bus.ack, (received[0], {"ok": True, "job_id": "t", "result": "ran"}))
    answer.start()
    assert bus.wait_ack(first, 5) == {"ok": True, "job_id": "t", "result": "ran"}
    answer.join()
    assert [c.id for c in bus.receive()] == ["b2"], "an answered request is gone"
    assert bus.wait_ack(first, 0.1) is None, "an answer is collected once"


def test_a_half_written_or_foreign_request_is_dropped(tmp_path: Path) -> None:
    bus = _bus(tmp_path)
    (bus.dir / "1-x.cmd").write_text('{"id": "x", "action"')
    (bus.dir / "2-y.cmd").write_text('{"id": "y", "colour": "red"}')
    assert bus.receive() == [] and list(bus.dir.iterdir()) == []


def test_answers_nobody_collected_go_after_their_ttl(tmp_path: Path) -> None:
    bus = _bus(tmp_path)
    command = Command.new("pause", "t")
    bus.ack(command, {"ok": True})
    stale = bus.dir / f"{command.id}.ack"
    old = time.time() - ACK_TTL - 1
    os.utime(stale, (old, old))
    bus.receive()
    assert not stale.exists()


def test_no_answer_within_the_timeout_is_none(tmp_path: Path) -> None:
    bus = _bus(tmp_path)
    started = time.monotonic()
    assert bus.wait_ack(Command.new("run", "t"), 0.2) is None
    assert time.monotonic() - started < 5
