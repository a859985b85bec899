"""Directories and files only this user can change (scheduler_proc/securedir.py): the lock and state
directories, and the files the scheduler writes and its readers trust."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from scheduler_proc.errors import LockDirError
from scheduler_proc.securedir import check_regular, ensure_private_dir, read_trusted, trusted_dir, write_private


def test_a_missing_directory_is_made_private_and_an_existing_one_checked(tmp_path: Path) -> None:
    made = ensure_private_dir(tmp_path / "a" / "run", "SCHEDULER_LOCK_DIR")
    assert stat.S_IMODE(made.stat().st_mode) == 0o700
    assert ensure_private_dir(made, "SCHEDULER_LOCK_DIR") == made
    assert trusted_dir(made, "SCHEDULER_LOCK_DIR") and not trusted_dir(tmp_path / "nope", "SCHEDULER_LOCK_DIR")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda p: (p.mkdir(), p.chmod(0o777)),
            r"SCHEDULER_LOCK_DIR='.*' is writable by others \(mode 0777\); run `chmod 700",
        ),
        (lambda p: p.write_text(""), "is not a directory"),
        (lambda p: p.symlink_to(p.parent), "is a symlink to"),
    ],
)
def test_a_directory_others_could_swap_is_refused_with_the_fix(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "run"
    make(path)
    with pytest.raises(LockDirError, match=message):
        ensure_private_dir(path, "SCHEDULER_LOCK_DIR")


def test_written_files_are_private_whole_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    write_private(path, b"x" * 100_000)
    write_private(path, b"second", durable=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_bytes() == b"second"
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"], "no temporary file left"
    found = read_trusted(path)
    assert found is not None and found[1] == b"second"
    assert read_trusted(tmp_path / "missing") is None


def test_a_fifo_or_a_symlink_where_a_file_belongs_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(LockDirError, match="host lock"):
        check_regular(tmp_path / "fifo", "host lock")
    assert read_trusted(tmp_path / "fifo") is None
    (tmp_path / "real").write_text("")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(LockDirError):
        check_regular(tmp_path / "link", "host lock")
    check_regular(tmp_path / "missing", "host lock")  # not there yet: fine
