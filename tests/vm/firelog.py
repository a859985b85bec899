"""Reading the VM hosts' fire logs: which host ran which second, what doubled, what was missed."""

from __future__ import annotations

import json
import math
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from machines import Machine
from support import reported_seconds, wait_for

Fire = dict[str, Any]
RESULTS: dict[str, dict[str, Any]] = {}


def second(fire: Fire) -> int:
    return int(datetime.fromisoformat(str(fire["scheduled_at"])).timestamp())


def ticks(fires: list[Fire]) -> list[Fire]:
    return [fire for fire in fires if fire["job"] == "tick"]


def doubled(fires: list[Fire]) -> list[int]:
    counts = Counter(second(fire) for fire in ticks(fires))
    return sorted(s for s, n in counts.items() if n > 1)


def missed(fires: list[Fire], start: float, end: float) -> list[int]:
    seen = {second(fire) for fire in ticks(fires)}
    return [s for s in range(math.ceil(start), math.floor(end)) if s not in seen]


def first_tick_after(fires: list[Fire], moment: float, exclude_node: str | None = None) -> float | None:
    later = [float(f["started"]) for f in ticks(fires) if float(f["started"]) > moment and f["node"] != exclude_node]
    return min(later) if later else None


def logged(machines: list[Machine], app: str) -> set[int]:
    """Seconds of the tick job the hosts' journals name as missed, refused or skipped."""
    text = "".join(
        m.run(["journalctl", "-u", app, "-o", "cat", "--no-pager"], check=False).stdout for m in machines if m.running
    )
    return reported_seconds(text)


def wait_ticks(read: Callable[[], list[Fire]], after: float, count: int, timeout: float, what: str) -> None:
    def counted() -> bool:  # each look reads every host's whole log: twice a second is enough for 1 s ticks
        return len({second(f) for f in ticks(read()) if float(f["started"]) > after}) >= count

    wait_for(counted, timeout, what, interval=0.5)


def scenario(
    name: str,
    read: Callable[[], list[Fire]],
    machines: list[Machine],
    app: str,
    start: float,
    fault: float,
    end: float,
    exclude_node: str | None = None,
) -> dict[str, Any]:
    """Check one scenario's window: no double, every missed second logged; record the numbers."""
    fires, lost, unlogged = _settled(read, machines, app, start, end)
    window = [f for f in ticks(fires) if start <= second(f) < end]
    first = first_tick_after(fires, fault, exclude_node)
    result = {
        "fires": len({second(f) for f in window}),
        "doubles": len(doubled(window)),
        "missed": len(lost),
        "missed_unlogged": len(unlogged),
        "first_fire_after_fault_s": None if first is None else round(first - fault, 2),
        "nodes": sorted({str(f["node"]) for f in window}),
    }
    RESULTS[name] = result
    print(f"test-vm: {name}: {json.dumps(result)}", file=sys.stderr)
    assert not doubled(window), f"{name}: seconds run twice: {doubled(window)}"
    assert not unlogged, f"{name}: seconds missed without a log line: {unlogged}"
    return result


#: A fire may still be waiting when its window ends (for a running instance, behind a catch-up):
#: it runs late or is logged missed within its misfire grace (30 s in cluster mode).
_SETTLE = 35.0


def _settled(
    read: Callable[[], list[Fire]], machines: list[Machine], app: str, start: float, end: float
) -> tuple[list[Fire], list[int], list[int]]:
    """The fires, the seconds of the window not run, and those of them no log line names, once every
    second of the window has run or been logged, or its misfire grace has passed."""
    deadline = end + _SETTLE
    while True:
        fires = read()
        lost = missed(fires, start, end)
        unlogged = sorted(set(lost) - logged(machines, app)) if lost else []
        if not unlogged or time.time() > deadline:
            return fires, lost, unlogged
        time.sleep(1.0)  # polling the hosts' journals, up to the deadline


def now() -> float:
    return time.time()
