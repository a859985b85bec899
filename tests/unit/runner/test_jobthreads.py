"""The jobs' thread pool (scheduler_proc/runner/jobthreads.py)."""

from __future__ import annotations

import threading

from support import wait_for


def test_job_threads_run_every_queued_call_even_after_shutdown() -> None:

    from scheduler_proc.runner.jobthreads import JobThreads

    threads = JobThreads(2)
    gate = threading.Event()
    ran: list[int | str] = []

    def blocked() -> None:
        gate.wait(10)

    threads.submit(blocked)
    threads.submit(blocked)
    wait_for(lambda: threads.backlog() == 0, 5, "both threads to take a blocking call")
    for index in range(5):
        threads.submit(ran.append, index)
    assert threads.backlog() == 5
    gate.set()
    threads.shutdown(wait=True)
    threads.submit(ran.append, "after")  # runs in the caller's thread
    assert sorted(ran[:5]) == [0, 1, 2, 3, 4] and ran[5] == "after"
