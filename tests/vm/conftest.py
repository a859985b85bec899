"""Fixtures of `make test-vm`: the cached root and wheels, and a lab whose hosts are always
powered off and unmounted afterwards, with their journals printed when a test fails."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from lab import Lab
from machines import rootfs, wheelhouse


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="make test-vm needs root (namespaces, mounts, systemd-nspawn)")
        for item in items:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def root() -> Path:
    return rootfs()


@pytest.fixture(scope="session")
def wheels() -> Path:
    return wheelhouse()


@pytest.fixture
def lab(tmp_path: Path, root: Path, wheels: Path, request: pytest.FixtureRequest) -> Iterator[Lab]:
    # A test module with PROJECT_MODE = True deploys a separate project with the kit from a wheel.
    lab = Lab(tmp_path, root, wheels, project=getattr(request.module, "PROJECT_MODE", False))
    yield lab
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        print(lab.report())
    lab.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The numbers each scenario measured, for the README's table."""
    from firelog import RESULTS

    if RESULTS:
        terminalreporter.section("test-vm scenarios")
        for name, result in RESULTS.items():
            terminalreporter.write_line(f"{name}: {result}")
