"""Which tz database this process uses (scheduler_proc/tzversion.py): the first zoneinfo directory
with a version, else the tzdata package."""

from __future__ import annotations

import importlib.metadata
import zoneinfo
from collections.abc import Iterator
from pathlib import Path

import pytest

from scheduler_proc.tzversion import tzdata_version


@pytest.fixture(autouse=True)
def _uncached() -> Iterator[None]:
    tzdata_version.cache_clear()
    yield
    tzdata_version.cache_clear()


def test_the_first_zoneinfo_directory_with_a_version_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "none").mkdir()
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "tzdata.zi").write_text("# version 2099z\n# tzdb data\n")
    (tmp_path / "later").mkdir()
    (tmp_path / "later" / "tzdata.zi").write_text("# version 1999a\n")
    monkeypatch.setattr(zoneinfo, "TZPATH", (str(tmp_path / "none"), str(tmp_path / "old"), str(tmp_path / "later")))
    assert tzdata_version() == "system 2099z"


def test_without_a_system_database_the_tzdata_package_or_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zoneinfo, "TZPATH", ())
    try:
        expected = f"tzdata {importlib.metadata.version('tzdata')}"
    except importlib.metadata.PackageNotFoundError:
        expected = "unknown"
    assert tzdata_version() == expected
