"""Pure logic of scheduler_proc.identity and the namespace default (no processes)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scheduler_proc.identity import AppIdentity, default_namespace, parent_of
from scheduler_proc.settings import Settings, start_warnings


@pytest.mark.parametrize(
    "jobs, namespace",
    [
        ("shop.jobs:jobs", "shop"),
        ("shop:jobs", "shop"),
        ("app.jobs:jobs", "scheduler"),  # the template keeps the namespace it always had
        ("app.tasks:jobs", "app"),
    ],
)
def test_the_default_namespace_is_the_jobs_modules_package(jobs: str, namespace: str) -> None:
    assert default_namespace(jobs) == namespace
    assert Settings.from_env({"SCHEDULER_JOBS": jobs}).namespace == namespace


def test_packages_whose_names_must_change_stay_apart() -> None:
    names = {default_namespace(f"{package}.jobs:jobs") for package in ("café", "cafè", "a" * 70, "a" * 71)}
    assert len(names) == 4 and all(len(name) <= 64 for name in names), names
    for name in names:  # each is a valid SCHEDULER_NAMESPACE
        assert Settings.from_env({"SCHEDULER_NAMESPACE": name}).namespace == name


def test_an_explicit_namespace_wins() -> None:
    assert Settings.from_env({"SCHEDULER_JOBS": "shop.jobs:jobs", "SCHEDULER_NAMESPACE": "x"}).namespace == "x"


def test_the_same_jobs_in_another_directory_is_another_app_on_one_host_but_not_across_hosts() -> None:
    ours = AppIdentity("shop.jobs:jobs", "/srv/prod")
    assert ours.conflict("shop.jobs:jobs", "/srv/prod", "shop") is None
    assert ours.conflict(None, None, "shop") is None  # a holder older than 0.2: benefit of the doubt
    assert "another app (SCHEDULER_JOBS='shop.jobs:jobs' in /srv/staging)" in str(
        ours.conflict("shop.jobs:jobs", "/srv/staging", "shop")
    )
    assert ours.conflict("shop.jobs:jobs", None, "shop") is None  # across hosts: jobs only
    assert "own SCHEDULER_NAMESPACE" in str(ours.conflict("blog.jobs:jobs", None, "shop"))


def test_parent_of_reads_proc() -> None:
    assert parent_of(os.getpid()) == os.getppid()
    assert parent_of(2**22 + 12345) is None


def test_an_app_upgraded_in_place_is_warned_of_the_old_default_namespace_beside_it(tmp_path: Path) -> None:
    env = {
        "SCHEDULER_JOBS": "shop.jobs:jobs",
        "SCHEDULER_LOCK_DIR": str(tmp_path / "run"),
        "SCHEDULER_STATE_DIR": str(tmp_path / "state"),
    }
    (tmp_path / "state").mkdir()
    assert start_warnings(Settings.from_env(env), env) == []
    (tmp_path / "state" / "scheduler.sqlite3").write_bytes(b"")
    [warning] = start_warnings(Settings.from_env(env), env)
    assert "beside this app's namespace 'shop'" in warning and "set SCHEDULER_NAMESPACE=scheduler" in warning
    explicit = {**env, "SCHEDULER_NAMESPACE": "shop"}
    assert start_warnings(Settings.from_env(explicit), explicit) == []  # ... unless set on purpose


def test_replicas_under_kubernetes_without_redis_are_warned_of() -> None:
    env = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "SCHEDULER_LOCK_DIR": "/nonexistent/run"}
    [warning] = start_warnings(Settings.from_env(env), env)
    assert "every replica of this pod runs every job" in warning
    cluster = {**env, "SCHEDULER_REDIS_URL": "redis://127.0.0.1:6379/0"}
    assert start_warnings(Settings.from_env(cluster), cluster) == []
