"""The runner's unit tests: a real SQLite ledger (no server, no process)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scheduler_proc.coordination.local.ledger import LocalLedger


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[LocalLedger]:
    """The local ledger, as the runner of a single host uses it."""
    opened = LocalLedger(tmp_path / "ledger.sqlite3", retention=3600)
    yield opened
    opened.close()
