"""The flight table: which fires this dispatcher has in flight, so a stop can wait for them.

A fire is tracked from before its gate check until its run ends (or its claim is refused);
a claimed one also holds a place among the process's instances of its job (see
:mod:`scheduler_proc.runner.instances`), given back when it leaves the table.
"""

from __future__ import annotations

import threading

from scheduler_proc.coordination.records import LiveRun
from scheduler_proc.runner.flight import Flight
from scheduler_proc.runner.instances import Instances


class FlightTable:
    """Fires in flight, safe to read from any thread (status, the marker keeper, a stop)."""

    def __init__(self, instances: Instances) -> None:
        self.instances = instances
        self._lock = threading.Condition()
        self._in_flight: set[Flight] = set()

    def track(self, flights: list[Flight]) -> None:
        """Count the fires as in flight (before their gate: a stop cannot slip in before the claim)."""
        with self._lock:
            self._in_flight.update(flights)

    def release(self, flights: list[Flight]) -> None:
        """The fires ended (or were never claimed): they leave the table, the claimed ones give back their place."""
        if not flights:
            return
        with self._lock:
            ended = [flight for flight in flights if flight in self._in_flight]
            self._in_flight.difference_update(ended)
            self._lock.notify_all()
        for flight in ended:
            if flight.claimed:
                self.instances.release(flight.job_id)

    def running(self) -> list[Flight]:
        """The claimed fires not ended yet."""
        with self._lock:
            return [flight for flight in self._in_flight if flight.claimed]

    def claimed_runs(self) -> list[LiveRun]:
        """The claimed fires not ended yet: their running markers are kept alive (and written again if lost)."""
        return [LiveRun(flight.job_id, flight.scheduled_at, flight.run_id) for flight in self.running()]

    def unstarted(self) -> int:
        """Claimed fires that have not started (nor been refused) yet."""
        return sum(1 for flight in self.running() if not flight.verdict)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no fire is in flight; False if some still are when ``timeout`` expires."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._in_flight, timeout)
