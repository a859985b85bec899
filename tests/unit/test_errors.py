"""The kit's exception family (scheduler_proc/errors.py): one base class to catch, and the fields
callers read besides the message."""

from __future__ import annotations

import inspect

from scheduler_proc import errors


def test_every_error_of_the_kit_is_a_scheduler_error() -> None:
    classes = [value for value in vars(errors).values() if inspect.isclass(value) and issubclass(value, Exception)]
    assert len(classes) > 10
    assert all(issubclass(cls, errors.SchedulerError) for cls in classes)


def test_unreadable_data_names_its_key_and_is_a_value_error() -> None:
    error = errors.UnreadableData("sched:{s}:fires:t", "the fire hash holds 'x': delete the key")
    assert isinstance(error, ValueError) and error.key == "sched:{s}:fires:t" and str(error).endswith("delete the key")


def test_a_ledger_error_carries_a_summary_without_the_path() -> None:
    error = errors.LedgerError("the ledger is corrupt", "/var/lib/app/x.sqlite3 is corrupt: move it away")
    assert error.summary == "the ledger is corrupt" and "/var/lib" in str(error)
