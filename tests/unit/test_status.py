"""The status file (scheduler_proc/status.py): read whole however large, live while touched."""

from __future__ import annotations

import os
import time
from pathlib import Path

from support import job_row, leader_status


def test_status_files_of_many_megabytes_are_read_whole(tmp_path: Path) -> None:
    from scheduler_proc.status import read_status, write_status

    jobs = [job_row(f"job-{i}") for i in range(40_000)]
    write_status(tmp_path / "s.json", leader_status(jobs))
    assert (tmp_path / "s.json").stat().st_size > 2 << 20
    status = read_status(tmp_path / "s.json")
    assert status is not None and len(status["jobs"]) == 40_000


def test_a_status_file_is_live_while_touched_however_old_its_content(tmp_path: Path) -> None:
    """Rewriting 10,000 jobs' status is done seconds apart; the touch in between keeps the
    scheduler from looking stopped (it did, about half of the time); no touch for
    STALE_AFTER means it stopped or hangs."""
    from scheduler_proc.status import STALE_AFTER, read_status, touch_status, write_status

    path = tmp_path / "s.json"
    write_status(path, leader_status([]))
    old = time.time() - STALE_AFTER - 30
    os.utime(path, (old, old))
    assert read_status(path) is None
    touch_status(path)
    status = read_status(path)
    assert status is not None and status["role"] == "leader" and status["updated_at"] < time.time()
    touch_status(tmp_path / "gone.json")  # a runner that exits may race its own removal: not an error
