"""Signal handling of the supervisor and runner processes, with real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from support import ROOT, wait_for

# The main loop waits on the same events the signal handlers feed, as the supervisor and
# runner loops do, but with tiny timeouts so a signal often lands while it holds their locks.
_WAITING_LOOP = """
import sys
from scheduler_proc.procutil import SignalFlags
flags = SignalFlags()
print("ready", flush=True)
reloads = 0
while not flags.stop.is_set():
    if flags.reload.wait(0.0001):
        flags.reload.clear()
        reloads += 1
print("stopped by", flags.stop_signal, "after", reloads, "reloads", flush=True)
"""


@pytest.mark.processes
def test_a_stop_signal_ends_the_loop_even_in_a_storm_of_reload_signals() -> None:
    """Regression: handlers that called Event.set() deadlocked a supervisor that then never stopped."""
    child = subprocess.Popen(
        [sys.executable, "-c", _WAITING_LOOP], cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        storm_end = time.monotonic() + 3.0
        while time.monotonic() < storm_end:
            os.kill(child.pid, signal.SIGHUP)
        os.kill(child.pid, signal.SIGTERM)
        wait_for(lambda: child.poll() is not None, 5, "the process to stop after SIGTERM")
        assert child.returncode == 0
        summary = child.stdout.read()
        assert f"stopped by {int(signal.SIGTERM)}" in summary, summary
        assert int(summary.split("after ")[1].split()[0]) > 0, summary
    finally:
        child.kill()
        child.wait()
