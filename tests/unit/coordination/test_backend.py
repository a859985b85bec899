"""Picking the mode (scheduler_proc/coordination/backend.py): without SCHEDULER_REDIS_URL the host
lock, SQLite ledger and file bus; with it the Redis lease, ledger and stream. The cluster case runs
against the real Redis fixture."""

from __future__ import annotations

from pathlib import Path

from redis_support import RedisServer

from scheduler_proc import clock
from scheduler_proc.coordination.backend import open_backend
from scheduler_proc.coordination.lease.leadership import ClusterLeadership
from scheduler_proc.coordination.local.bus import LocalBus
from scheduler_proc.coordination.local.hostlock import HostLock
from scheduler_proc.coordination.local.leadership import HostLeadership
from scheduler_proc.coordination.local.ledger import LocalLedger
from scheduler_proc.coordination.redis.bus import RedisBus
from scheduler_proc.coordination.redis.ledger import RedisLedger
from scheduler_proc.runner.metrics import Metrics
from scheduler_proc.settings import Settings


def _settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env(
        {"SCHEDULER_LOCK_DIR": str(tmp_path / "run"), "SCHEDULER_STATE_DIR": str(tmp_path / "state"), **env}
    )


def test_without_redis_the_host_decides_alone(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    (tmp_path / "run").mkdir(mode=0o700)
    (tmp_path / "state").mkdir(mode=0o700)
    lock = HostLock(settings.lock_path, "web-1")
    backend = open_backend(settings, lock, Metrics("web-1"))
    assert backend.mode == "single-host"
    assert isinstance(backend.ledger, LocalLedger) and isinstance(backend.leadership, HostLeadership)
    assert isinstance(backend.bus, LocalBus) and backend.bus.dir.parent == settings.lock_dir
    before = clock.now()
    assert before <= backend.floor_time() <= clock.now()
    backend.ledger.close()


def test_with_redis_the_cluster_decides(tmp_path: Path, redis_server: RedisServer) -> None:
    settings = _settings(tmp_path, SCHEDULER_REDIS_URL=redis_server.url)
    (tmp_path / "run").mkdir(mode=0o700)
    backend = open_backend(settings, HostLock(settings.lock_path, "web-1"), Metrics("web-1"))
    assert backend.mode == "cluster"
    assert isinstance(backend.ledger, RedisLedger) and isinstance(backend.leadership, ClusterLeadership)
    assert isinstance(backend.bus, RedisBus)
    redis_server.kill()
    before = clock.now()
    assert before <= backend.floor_time() <= clock.now(), "a Redis that does not answer: our own clock"
