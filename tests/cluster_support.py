"""What the cluster suites share: nodes on one store with a short lease, and reading their fires by the second."""

from __future__ import annotations

from pathlib import Path

from support import Host, HostFactory, read_fires, wait_for

TTL = 1.0
# A leader whose lease is still valid by its own clock says so (one timeout is not a lost lease).
STANDBY_LINE = (
    r"(?:Redis|PostgreSQL) at .* is unreachable \(.*\); (?:waiting as standby and retrying|"
    r"still leading term \d+ for up to [\d.]+s by its own clock, retrying the renewal)"
)


def cluster(
    hosts: HostFactory,
    store_env: dict[str, str],
    count: int = 3,
    ttl: float = TTL,
    workers: int = 1,
    env: dict[str, str] | None = None,
) -> list[Host]:
    nodes = [
        hosts(
            f"node-{i}",
            workers=workers,
            env={**store_env, "SCHEDULER_LEASE_TTL": str(ttl), **(env or {})},
        )
        for i in range(count)
    ]
    for node in nodes:
        node.start()
    return nodes


def distinct_seconds(fires: list[dict[str, object]]) -> int:
    return len({f["scheduled_at"] for f in fires if f["job"] == "tick"})


def wait_seconds_after(fire_log: Path, moment: float, count: int, what: str, timeout: float = 10) -> None:
    """Wait until ``count`` distinct seconds have fired after ``moment``."""
    wait_for(
        lambda: distinct_seconds([f for f in read_fires(fire_log) if f["started"] > moment]) >= count, timeout, what
    )


def first_fire_after(fire_log: Path, moment: float, exclude_pid: int | None = None) -> float:
    def find() -> float | None:
        later = [f["started"] for f in read_fires(fire_log) if f["started"] > moment and f["pid"] != exclude_pid]
        return min(later) if later else None

    return wait_for(find, 15, "a fire after the fault")
