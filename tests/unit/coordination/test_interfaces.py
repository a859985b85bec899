"""The backend seam (scheduler_proc/coordination/interfaces.py): every implementation offers every
method of the Protocol it stands for, with the same parameters. A new backend (one subpackage) is
added to IMPLEMENTATIONS and checked here; mypy checks the types where they are used."""

from __future__ import annotations

import inspect

import pytest

from scheduler_proc.coordination import interfaces
from scheduler_proc.coordination.lease.leadership import ClusterLeadership
from scheduler_proc.coordination.local.bus import LocalBus
from scheduler_proc.coordination.local.leadership import HostLeadership
from scheduler_proc.coordination.local.ledger import LocalLedger
from scheduler_proc.coordination.postgres.bus import PostgresBus
from scheduler_proc.coordination.postgres.ledger import PostgresLedger
from scheduler_proc.coordination.redis.bus import RedisBus
from scheduler_proc.coordination.redis.ledger import RedisLedger
from scheduler_proc.runner.metrics import Metrics

IMPLEMENTATIONS: list[tuple[type, type]] = [
    (interfaces.Ledger, LocalLedger),
    (interfaces.Ledger, RedisLedger),
    (interfaces.Ledger, PostgresLedger),
    (interfaces.Leadership, HostLeadership),
    (interfaces.Leadership, ClusterLeadership),
    (interfaces.CommandBus, LocalBus),
    (interfaces.CommandBus, RedisBus),
    (interfaces.CommandBus, PostgresBus),
    (interfaces.LeaseObserver, Metrics),
]


def _members(protocol: type) -> list[str]:
    return [name for name in vars(protocol) if not name.startswith("_")]


@pytest.mark.parametrize(("protocol", "implementation"), IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_each_implementation_has_every_member_of_its_protocol_with_its_parameters(
    protocol: type, implementation: type
) -> None:
    members = _members(protocol)
    assert members, f"{protocol.__name__} declares nothing"
    for name in members:
        assert hasattr(implementation, name), f"{implementation.__name__} lacks {protocol.__name__}.{name}"
        declared, offered = getattr(protocol, name), getattr(implementation, name)
        if inspect.isfunction(declared):
            assert list(inspect.signature(offered).parameters) == list(inspect.signature(declared).parameters), name


def test_every_protocol_says_what_an_implementation_must_guarantee() -> None:
    protocols = [value for value in vars(interfaces).values() if getattr(value, "_is_protocol", False)]
    assert {p.__name__ for p in protocols} >= {"Ledger", "Leadership", "CommandBus", "LeaseObserver"}
    assert all(inspect.getdoc(p) for p in protocols)
