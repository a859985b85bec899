"""The CommandBus interface's guarantees (scheduler_proc/coordination/interfaces.py), each test run on
a real Redis and on a real PostgreSQL (the ``ledger_factory`` fixture): a command reaches the
leader once, a notice makes it read at once, a command stays queued until acked (a new leader
finds it), an old one is dropped, and the answer comes back by command id."""

from __future__ import annotations

import threading

from store_support import StoreKit
from support import wait_for

from scheduler_proc.coordination.records import COMMAND_TTL, Command


def test_a_command_reaches_the_leader_once_and_its_answer_the_operator(ledger_factory: StoreKit) -> None:
    operator, leader = ledger_factory.bus(), ledger_factory.bus()
    assert leader.due(), "a new leader reads at once"
    assert leader.receive() == []
    assert not leader.due(), "nothing new: the leader reads only now and then"
    command = Command.new("pause", "nightly")
    operator.submit(command)
    wait_for(leader.due, 5, "the notice to make the leader read now")
    [received] = leader.receive()
    assert received == command and received.cursor
    answer = threading.Timer(0.1, leader.ack, (received, {"ok": True, "job_id": "nightly", "paused": True}))
    answer.start()
    assert operator.wait_ack(command, 5) == {"ok": True, "job_id": "nightly", "paused": True}
    answer.join()
    assert leader.receive() == [], "the cursor moved past it"


def test_a_new_leader_finds_the_commands_its_predecessor_did_not_carry_out(ledger_factory: StoreKit) -> None:
    operator, leader = ledger_factory.bus(), ledger_factory.bus()
    done, pending = Command.new("pause", "a"), Command.new("run", "b")
    operator.submit(done)
    operator.submit(pending)
    first = leader.receive()
    assert [c.id for c in first] == [done.id, pending.id], "oldest first"
    leader.ack(first[0], {"ok": True})  # then the leader dies before the second
    assert [c.id for c in ledger_factory.bus().receive()] == [pending.id]
    leader.rewind()
    assert leader.due()
    assert [c.id for c in leader.receive()] == [pending.id], "the same leader's next term reads it again too"


def test_a_command_older_than_its_ttl_is_dropped(ledger_factory: StoreKit) -> None:
    leader = ledger_factory.bus()
    ledger_factory.submit_aged(Command.new("run", "stale"), COMMAND_TTL + 5)
    fresh = Command.new("run", "fresh")
    ledger_factory.bus().submit(fresh)
    assert [c.id for c in leader.receive()] == [fresh.id], "an old 'run now' never fires late"


def test_an_unanswered_command_times_out_with_none(ledger_factory: StoreKit) -> None:
    assert ledger_factory.bus().wait_ack(Command.new("run", "x"), 0.2) is None
