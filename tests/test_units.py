"""Pure logic: the job registry, settings, the host lock, the local ledger and catch-up."""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support import FakeClock, recording_jobs, wait_for

from scheduler_proc import JobDefinitionError, Jobs, RunContext
from scheduler_proc.backoff import STABLE_AFTER, RestartBackoff
from scheduler_proc.coordination.local.hostlock import HostLock, HostLockError, read_holder
from scheduler_proc.coordination.local.ledger import LocalLedger
from scheduler_proc.coordination.records import ClaimResult, HistoryLimits, Run
from scheduler_proc.coordination.term import Term
from scheduler_proc.errors import SettingsError
from scheduler_proc.runner.dispatch import Dispatcher
from scheduler_proc.runner.engine import Engine
from scheduler_proc.settings import Settings, start_warnings, unknown_variable_warnings
from scheduler_proc.web.ready import base_url

SINGLE = Term(None, lambda: True)


def test_job_ids_default_to_module_and_function_and_options_have_defaults() -> None:
    jobs = Jobs()

    @jobs.cron("*/5 * * * *")
    def cleanup() -> None: ...

    @jobs.every(minutes=2, id="sync", coalesce=True, max_instances=2, misfire_grace_time=5)
    async def sync(ctx: RunContext) -> None: ...

    spec = jobs.get(f"{__name__}.test_job_ids_default_to_module_and_function_and_options_have_defaults.cleanup")
    assert spec is not None and not spec.wants_context and not spec.coalesce and spec.max_instances == 1
    assert spec.description == "cron[*/5 * * * *] UTC"
    sync_spec = jobs.get("sync")
    assert sync_spec is not None and sync_spec.wants_context and sync_spec.is_async
    assert (sync_spec.coalesce, sync_spec.max_instances, sync_spec.misfire_grace_time) == (True, 2, 5.0)


def test_intervals_are_anchored_so_every_node_computes_the_same_fires() -> None:
    jobs = Jobs()

    @jobs.every(minutes=5, id="five")
    def five() -> None: ...

    spec = jobs.get("five")
    assert spec is not None
    now = datetime(2026, 11, 30, 10, 2, 17, tzinfo=UTC)
    assert spec.trigger.get_next_fire_time(None, now) == datetime(2026, 11, 30, 10, 5, tzinfo=UTC)


def _noop() -> None: ...


def _two(a: int, b: int) -> None: ...


def _untyped(ctx) -> None: ...  # type: ignore[no-untyped-def]


@pytest.mark.parametrize(
    "define, message",
    [
        (lambda j: j.cron("* * *")(_noop), "invalid crontab '\\* \\* \\*': 3 field\\(s\\); use 5 fields"),
        (lambda j: j.cron("0 9 * * *", timezone="Mars/Base")(_noop), "unknown timezone 'Mars/Base'"),
        (lambda j: j.every(seconds=0)(_noop), "too short"),
        (lambda j: j.every(seconds=-1)(_noop), "must be a finite number >= 0"),
        (lambda j: j.every(seconds=1, max_instances=0)(_noop), "max_instances=0"),
        (lambda j: j.every(seconds=1, id="has space")(_noop), "job id 'has space' is invalid"),
        (lambda j: j.every(seconds=1)(lambda: None), "has no usable default job id .*; pass id="),
        (lambda j: j.every(seconds=1)(_two), "takes 2 parameters"),
        (lambda j: j.every(seconds=1)(_untyped), "parameter 'ctx' is not annotated RunContext"),
    ],
)
def test_bad_definitions_raise_with_the_job_named(define, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(JobDefinitionError, match=message):
        define(Jobs())


def test_string_annotation_of_run_context_is_accepted() -> None:
    jobs = Jobs()

    def job(ctx: RunContext) -> None: ...

    jobs.every(seconds=1, id="s")(job)
    spec = jobs.get("s")
    assert spec is not None and spec.wants_context


def test_settings_defaults_and_every_problem_reported_at_once() -> None:
    settings = Settings.from_env({"HOME": "/home/u", "XDG_RUNTIME_DIR": "/run/user/1"})
    assert settings.jobs_ref == "app.jobs:jobs" and settings.stop_grace is None
    assert settings.lock_path == Path("/run/user/1/scheduler_proc/scheduler.lock")
    assert settings.state_dir == Path("/home/u/.local/state/scheduler_proc")
    systemd = Settings.from_env({"RUNTIME_DIRECTORY": "/run/app", "STATE_DIRECTORY": "/var/lib/app"})
    assert systemd.lock_dir == Path("/run/app") and systemd.state_dir == Path("/var/lib/app")
    with pytest.raises(SettingsError) as error:
        Settings.from_env(
            {"SCHEDULER_MISFIRE_GRACE": "-1", "SCHEDULER_LOCK_DIR": "relative", "SCHEDULER_ENABLED": "maybe"}
        )
    text = str(error.value)
    assert "SCHEDULER_MISFIRE_GRACE='-1'" in text and "SCHEDULER_LOCK_DIR='relative'" in text
    assert "SCHEDULER_ENABLED='maybe' is invalid: use true or false" in text


def test_unknown_variables_get_a_did_you_mean() -> None:
    warnings = unknown_variable_warnings({"SCHEDULER_JOB": "x", "SCHEDULER_ZZZZZZZZZZZZ": "y", "OTHER": "z"})
    assert warnings[0] == "unknown setting SCHEDULER_JOB is ignored; did you mean SCHEDULER_JOBS?"
    assert "known variables:" in warnings[1]


def test_an_unknown_variable_stops_the_start_unless_allowed() -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"SCHEDULER_READ_TOKN": "r" * 20})
    assert str(error.value) == (
        "unknown setting SCHEDULER_READ_TOKN; did you mean SCHEDULER_READ_TOKEN? (fix the name, or set "
        "SCHEDULER_ALLOW_UNKNOWN=true to only warn about variables this version does not know)"
    )
    env = {"SCHEDULER_READ_TOKN": "r" * 20, "SCHEDULER_ALLOW_UNKNOWN": "true"}
    assert start_warnings(Settings.from_env(env), env) == [
        "unknown setting SCHEDULER_READ_TOKN is ignored; did you mean SCHEDULER_READ_TOKEN?"
    ]


def test_host_lock_is_exclusive_private_and_readable(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    first, second = HostLock(path, "web-1", master_pid=42), HostLock(path, "web-2")
    assert read_holder(path) is None
    assert first.try_acquire() and not second.try_acquire()
    holder = read_holder(path)
    assert holder is not None and (holder.pid, holder.node, holder.master_pid) == (os.getpid(), "web-1", 42)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first.release()
    assert read_holder(path) is None and second.try_acquire()
    second.release()


def test_the_holder_record_is_never_missing_while_the_holder_rewrites_it(tmp_path: Path) -> None:
    """A lease change rewrites the record; a reader meanwhile must still find the holder, not 'nobody'.

    A thread's own open file description conflicts with the holder's flock as another process's would.
    """
    path = tmp_path / "x.lock"
    lock = HostLock(path, "web-1", master_pid=42)
    assert lock.try_acquire()
    done = threading.Event()
    reads: list[bool] = []

    def read_until_done() -> None:
        while not done.is_set():
            reads.append(read_holder(path) is not None)

    reader = threading.Thread(target=read_until_done)
    reader.start()
    try:
        for i in range(3000):
            lock.record_lease(f"{i}:web-1-with-a-longer-name" if i % 2 else None)
    finally:
        done.set()
        reader.join()
        lock.release()
    assert len(reads) > 100 and all(reads), f"{reads.count(False)} of {len(reads)} reads found no holder"


def test_host_lock_notices_its_file_was_replaced(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    lock = HostLock(path, "web-1")
    assert lock.try_acquire() and lock.still_valid()
    path.unlink()
    # A passed check stands a few milliseconds (a burst of fires each checks it): noticed right after.
    wait_for(lambda: not lock.still_valid(), 1, "the holder to notice its file is gone", interval=0.005)
    other = HostLock(path, "web-2")
    assert other.try_acquire()  # a new file: why the old holder must step down
    lock.release()
    other.release()


def test_a_released_host_lock_is_invalid_at_once_even_just_after_a_check(tmp_path: Path) -> None:
    lock = HostLock(tmp_path / "x.lock", "web-1")
    assert lock.try_acquire() and lock.still_valid()
    lock.release()
    assert not lock.still_valid()


def test_host_lock_refuses_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "target").write_text("")
    (tmp_path / "x.lock").symlink_to(tmp_path / "target")
    with pytest.raises(HostLockError, match="cannot be opened"):
        HostLock(tmp_path / "x.lock", "n").try_acquire()


def _run(job: str, at: datetime, run_id: str, outcome: str = "success") -> Run:
    return Run(
        job_id=job,
        run_id=run_id,
        scheduled_at=at,
        node="n1",
        term=None,
        trigger="schedule",
        started_at=at.timestamp(),
        finished_at=at.timestamp() + 0.5,
        outcome=outcome,
        error=None,
    )


def test_ledger_claims_each_fire_once_and_remembers_outcomes(tmp_path: Path) -> None:
    ledger = LocalLedger(tmp_path / "l.sqlite3", retention=3600, history=HistoryLimits(succeeded=2, other=3))
    at = datetime(2026, 1, 1, 0, 0, 1, 500, tzinfo=UTC)
    assert ledger.claim("j", at, SINGLE, "n1", "r1") is ClaimResult.CLAIMED
    assert ledger.claim("j", at, SINGLE, "n2", "r2") is ClaimResult.DUPLICATE
    ledger.finish(_run("j", at, "r1"))
    assert ledger.last_claimed("j") == at and ledger.last_claimed("other") is None
    assert ledger.last_runs()["j"].outcome == "success"
    assert stat.S_IMODE((tmp_path / "l.sqlite3").stat().st_mode) == 0o600
    for second in range(2, 7):
        ledger.finish(_run("j", at + timedelta(seconds=second), f"r{second}", "error"))
    history = ledger.history("j", 10)
    assert [run.run_id for run in history] == ["r6", "r5", "r4", "r1"], "failures bounded apart, newest first"
    assert history[0].duration == 0.5 and history[0].outcome == "error"
    for second in range(7, 12):  # many successes push out older successes, never the failures
        ledger.finish(_run("j", at + timedelta(seconds=second), f"r{second}"))
    assert [run.run_id for run in ledger.history("j", 10)] == ["r11", "r10", "r6", "r5", "r4"]
    assert [run.run_id for run in ledger.history("j", 3)] == ["r11", "r10", "r6"]
    ledger.set_paused("j", True)
    assert ledger.paused() == {"j"}
    ledger.set_paused("j", False)
    assert ledger.paused() == set()
    ledger.close()


def _engine(tmp_path: Path, grace: float) -> tuple[Engine, LocalLedger]:
    jobs = Jobs()

    @jobs.every(seconds=10, id="ten", misfire_grace_time=grace)
    def ten() -> None: ...

    ledger = LocalLedger(tmp_path / "l.sqlite3", retention=3600)
    return Engine(jobs, ledger, "n", 30, 1, lambda: Term(None, lambda: True)), ledger


def test_catch_up_resumes_after_the_last_claim_within_grace(tmp_path: Path) -> None:
    engine, ledger = _engine(tmp_path, grace=60)
    now = datetime(2026, 1, 1, 12, 0, 3, tzinfo=UTC)
    last = datetime(2026, 1, 1, 11, 59, 30, tzinfo=UTC)  # a fire of the 10 s grid, 33 s ago
    ledger.claim("ten", last, SINGLE, "n", "r")
    resume = engine._resume_at(engine.specs["ten"], now, now, ledger.last_claimed("ten"))
    assert resume == last + timedelta(seconds=10)


def test_an_interval_job_resumes_on_its_grid_after_a_floor(tmp_path: Path) -> None:
    """A floor (Redis may have lost claims) becomes each job's last claim: an instant off the
    job's grid. The next fire is the grid's, not the floor plus the interval (which kept every
    later fire off the grid: .364 for ever)."""
    engine, _ = _engine(tmp_path, grace=60)
    now = datetime(2026, 1, 1, 12, 0, 3, tzinfo=UTC)
    floor = datetime(2026, 1, 1, 12, 0, 1, 364000, tzinfo=UTC)
    assert engine._resume_at(engine.specs["ten"], now, now, floor) == datetime(2026, 1, 1, 12, 0, 10, tzinfo=UTC)


def test_the_floor_log_says_what_is_known_of_the_fires_it_covers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine, _ = _engine(tmp_path, grace=60)
    last, floor = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC), datetime(2026, 1, 1, 12, 0, 31, tzinfo=UTC)
    with caplog.at_level(logging.WARNING, logger="scheduler.engine"):
        settled = engine._settle_floor({"ten": last}, floor, "Redis restarted without its data")
    assert settled == {"ten": floor}
    [record] = caplog.records
    message = record.getMessage()
    assert "2026-01-01T12:00:10+00:00 to 2026-01-01T12:00:31+00:00" in message
    assert "may have run before Redis lost their claims" in message and "not run" not in message.split("may")[0]
    assert "before running any by hand" in message


def test_catch_up_skips_fires_older_than_grace(tmp_path: Path) -> None:
    engine, ledger = _engine(tmp_path, grace=15)
    now = datetime(2026, 1, 1, 12, 0, 3, tzinfo=UTC)
    ledger.claim("ten", now - timedelta(hours=1), SINGLE, "n", "r")
    assert engine._resume_at(engine.specs["ten"], now, now, ledger.last_claimed("ten")) == datetime(
        2026, 1, 1, 11, 59, 50, tzinfo=UTC
    )


def test_dispatcher_refuses_when_not_leading_and_when_already_claimed(tmp_path: Path) -> None:
    jobs, ran = recording_jobs()
    ledger = LocalLedger(tmp_path / "l.sqlite3", retention=3600)
    leading = {"yes": False}
    dispatcher = Dispatcher(
        {s.id: s for s in jobs}, ledger, "n", 30, lambda: Term(None, lambda: True) if leading["yes"] else None
    )
    now = datetime.now(UTC)
    dispatcher.run("t", now)
    assert ran == []
    leading["yes"] = True
    dispatcher.run("t", now)
    dispatcher.run("t", now)
    assert ran == [now]
    dispatcher.run("t", now - timedelta(seconds=120))  # beyond the misfire grace of 30 s
    assert ran == [now] and dispatcher.wait_idle(0)


def test_fires_missed_before_a_start_are_counted_up_to_a_limit_and_once_per_process() -> None:
    from scheduler_proc.runner.metrics import Metrics

    jobs = Jobs()
    jobs.every(seconds=2, id="t")(lambda: None)
    [spec] = list(jobs)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    assert spec.fires_between(base, base + timedelta(seconds=10), 1000) == 5  # :00 :02 :04 :06 :08
    assert spec.fires_between(base + timedelta(seconds=1), base + timedelta(seconds=10), 1000) == 4
    assert spec.fires_between(base, base + timedelta(days=1), 3) == 3
    metrics = Metrics("n")
    assert metrics.missed_since("t", base, base + timedelta(seconds=10)) == base
    # A later term of the same process resumes from the same last claim: only the new fires count.
    assert metrics.missed_since("t", base, base + timedelta(seconds=16)) == base + timedelta(seconds=10)


def test_histograms_stop_adding_job_labels_past_the_cap() -> None:
    from scheduler_proc.runner.metrics import MAX_HISTOGRAM_JOBS, Metrics

    metrics = Metrics("n")
    for index in range(MAX_HISTOGRAM_JOBS + 5):
        metrics.fire_finished(f"job-{index}", "success", 0.01, 0.002, 1000.0)
    text = metrics.registry.get_sample_value
    assert text("scheduler_fires_total", {"job": f"job-{MAX_HISTOGRAM_JOBS + 4}", "outcome": "success"}) == 1
    assert text("scheduler_job_duration_seconds_count", {"job": f"job-{MAX_HISTOGRAM_JOBS - 1}"}) == 1
    assert text("scheduler_job_duration_seconds_count", {"job": f"job-{MAX_HISTOGRAM_JOBS}"}) is None
    assert text("scheduler_job_duration_seconds_count", {"job": "_other"}) == 5


def test_status_files_of_many_megabytes_are_read_whole(tmp_path: Path) -> None:
    from scheduler_proc.status import read_status, write_status

    row = {"trigger": "every 20s", "paused": False, "next_run_at": None, "next_fires": [], "last_run_at": None}
    jobs = [{"id": f"job-{i}", **row, "last_outcome": None} for i in range(40_000)]
    host = {"node": "n", "role": "leader", "runner_pid": 2, "master_pid": 1, "mode": "single-host", "cluster": {}}
    write_status(tmp_path / "s.json", {**host, "jobs": jobs})  # type: ignore[typeddict-item]
    assert (tmp_path / "s.json").stat().st_size > 2 << 20
    status = read_status(tmp_path / "s.json")
    assert status is not None and len(status["jobs"]) == 40_000


def test_a_status_file_is_live_while_touched_however_old_its_content(tmp_path: Path) -> None:
    """Rewriting 10,000 jobs' status is done seconds apart; the touch in between keeps the
    scheduler from looking stopped (it did, about half of the time); no touch for
    STALE_AFTER means it stopped or hangs."""
    from scheduler_proc.status import STALE_AFTER, read_status, touch_status, write_status

    path = tmp_path / "s.json"
    host = {"node": "n", "role": "leader", "runner_pid": 2, "master_pid": 1, "mode": "single-host", "cluster": {}}
    write_status(path, {**host, "jobs": []})  # type: ignore[typeddict-item]
    old = time.time() - STALE_AFTER - 30
    os.utime(path, (old, old))
    assert read_status(path) is None
    touch_status(path)
    status = read_status(path)
    assert status is not None and status["role"] == "leader" and status["updated_at"] < time.time()
    touch_status(tmp_path / "gone.json")  # a runner that exits may race its own removal: not an error


def test_a_ledger_from_the_first_schema_is_migrated_and_keeps_its_claims(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE fires (job_id TEXT NOT NULL, scheduled_us INTEGER NOT NULL, run_id TEXT NOT NULL, "
        "node TEXT NOT NULL, claimed_at REAL NOT NULL, finished_at REAL, outcome TEXT NOT NULL DEFAULT 'running', "
        "error TEXT, PRIMARY KEY (job_id, scheduled_us));"
        "INSERT INTO fires VALUES ('j', 1767225600000000, 'r0', 'n', 1767225600.0, NULL, 'success', NULL);"
    )
    old.commit()
    old.close()
    ledger = LocalLedger(path, retention=10**9)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert ledger.last_claimed("j") == at
    assert ledger.claim("j", at, SINGLE, "n", "r1") is ClaimResult.DUPLICATE
    assert ledger.claim("j", at + timedelta(seconds=1), SINGLE, "n", "r2") is ClaimResult.CLAIMED


def test_cadence_spaces_costly_chores_and_yields_to_bursts() -> None:
    from scheduler_proc.runner.cadence import Cadence

    clock = FakeClock()
    cadence = Cadence(every=1.0, share=0.05, max_delay=5.0, clock=clock)
    assert cadence.due(busy=True), "the first run is due at once"
    cadence.start()
    clock.now += 0.01
    cadence.done()
    assert not cadence.due()
    clock.now += 0.99
    assert cadence.due() and not cadence.due(busy=True), "a due chore waits while fires start"
    clock.now += 5.0
    assert cadence.due(busy=True), "but not longer than max_delay"
    cadence.start()
    clock.now += 0.5  # a chore costing half a second may take at most 5 % of the time
    cadence.done()
    assert cadence.cost == 0.5
    clock.now += 9.9
    assert not cadence.due()
    clock.now += 0.1
    assert cadence.due()


def test_job_threads_run_every_queued_call_even_after_shutdown() -> None:
    import threading

    from scheduler_proc.runner.jobthreads import JobThreads

    threads = JobThreads(2)
    gate, ran = threading.Event(), []
    threads.submit(gate.wait, 10)
    threads.submit(gate.wait, 10)
    wait_for(lambda: threads.backlog() == 0, 5, "both threads to take a blocking call")
    for index in range(5):
        threads.submit(ran.append, index)
    assert threads.backlog() == 5
    gate.set()
    threads.shutdown(wait=True)
    threads.submit(ran.append, "after")  # runs in the caller's thread
    assert sorted(ran[:5]) == [0, 1, 2, 3, 4] and ran[5] == "after"


def test_recorder_writes_everything_handed_over_before_flush_returns(tmp_path: Path) -> None:
    from scheduler_proc.runner.recorder import Recorder

    ledger = LocalLedger(tmp_path / "l.sqlite3", retention=3600)
    seen: list[str] = []
    recorder = Recorder(ledger, lambda runs: seen.extend(run.run_id for run in runs))
    at = datetime(2026, 1, 1, tzinfo=UTC)
    for index in range(50):
        ledger.claim("j", at + timedelta(seconds=index), SINGLE, "n", f"r{index}")
        recorder.record(
            Run("j", f"r{index}", at + timedelta(seconds=index), "n", None, "schedule", 1, 2, "success", None)
        )
    assert recorder.flush(10)
    assert len(ledger.history("j", 100)) == 50 and seen == [f"r{index}" for index in range(50)]


def test_restart_backoff_doubles_while_restarts_fail_and_resets_after_a_healthy_run() -> None:
    backoff = RestartBackoff(first=1.0, maximum=5.0)
    assert backoff.after_exit(lived=2.0) == 1.0
    assert backoff.after_exit(lived=2.0) == 2.0
    assert backoff.after_failed_start() == 4.0
    assert backoff.after_exit(lived=2.0) == 5.0  # capped
    assert backoff.after_exit(lived=STABLE_AFTER) == 1.0


@pytest.mark.parametrize(
    "bind, url",
    [
        (None, "http://127.0.0.1:8000"),
        ("", "http://127.0.0.1:8000"),
        ("0.0.0.0:9000", "http://127.0.0.1:9000"),
        ("[::]:8080", "http://127.0.0.1:8080"),
        ("[::1]:8000", "http://[::1]:8000"),
        ("10.0.0.5:8000", "http://10.0.0.5:8000"),
    ],
)
def test_the_readiness_gate_and_the_deploy_health_check_reach_gunicorn_where_it_binds(
    bind: str | None, url: str
) -> None:
    assert base_url(bind) == url


@pytest.mark.parametrize(
    "url, password",
    [
        ("redis://app:pa:ss-w0rd-1@redis.internal:6379/0", "pa:ss-w0rd-1"),  # ':' is allowed in a password
        ("unix:///run/redis.sock?db=0&password=s0cket-secret", "s0cket-secret"),
        ("redis://redis.internal/0?password=abc,defghijk", "abc,defghijk"),  # a log line's form stops at ','
        ("redis://app:p%40ss-w0rd-9@redis.internal/0", "p@ss-w0rd-9"),  # percent-encoded in the URL
        ("rediss://redis.internal/0?ssl_password=key-file-pass", "key-file-pass"),
    ],
)
def test_a_url_password_is_masked_wherever_it_shows_not_only_inside_the_url(url: str, password: str) -> None:
    """An error may quote the password alone (AUTH failed for ...); the whole value is remembered."""
    from scheduler_proc.redact import redact

    Settings.from_env({"SCHEDULER_REDIS_URL": url})
    line = f"AUTH {password} rejected; url {url}"
    assert password not in redact(line) and "pa:" not in redact(line) and "abc," not in redact(line), redact(line)


def test_the_lease_is_judged_on_a_clock_that_counts_suspended_time() -> None:
    """CLOCK_MONOTONIC stops while a host is suspended, so a resumed leader would think its lease
    still had the time it had when it slept; CLOCK_BOOTTIME counts the sleep. (No test can
    suspend this machine: this pins which clock is used.)"""
    import inspect

    from scheduler_proc import clock
    from scheduler_proc.coordination.redis.lease import ClusterLeadership

    assert inspect.signature(ClusterLeadership).parameters["clock"].default is clock.elapsed
    before = time.clock_gettime(time.CLOCK_BOOTTIME)
    assert before <= clock.elapsed() <= time.clock_gettime(time.CLOCK_BOOTTIME)


def test_intervals_follow_the_epochs_grid_unless_anchored() -> None:
    """every(minutes=7) fires at 00:02, 00:09, ... on 2026-12-04 UTC (the epoch's grid; the docs
    promised ':00, :05' without saying so); start= anchors the grid and no fire precedes it."""
    jobs = Jobs()
    jobs.every(minutes=7, id="seven")(lambda: None)
    jobs.every(hours=5, id="five-hours")(lambda: None)
    nine = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    jobs.every(minutes=7, id="anchored", start=nine)(lambda: None)
    midnight = datetime(2026, 12, 4, tzinfo=UTC)
    seven, five, anchored = (jobs.get(name) for name in ("seven", "five-hours", "anchored"))
    assert seven is not None and five is not None and anchored is not None
    assert [t.strftime("%H:%M") for t in seven.upcoming(midnight, 3)] == ["00:02", "00:09", "00:16"]
    assert [t.strftime("%H:%M") for t in five.upcoming(midnight, 2)] == ["01:00", "06:00"]
    assert [t.strftime("%H:%M") for t in anchored.upcoming(midnight, 2)] == ["09:00", "09:07"]
    assert anchored.upcoming(nine + timedelta(minutes=8), 1) == [nine + timedelta(minutes=14)]
    assert anchored.description == "every 7m from 2026-12-04T09:00:00+00:00"
    with pytest.raises(JobDefinitionError, match=r"job 'naive': start=.* is not a datetime with a time zone"):
        jobs.every(minutes=7, id="naive", start=datetime(2026, 1, 1))(lambda: None)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"retries": -1}, r"job 'r': retries=-1 must be a whole number from 0 to 100"),
        ({"retries": 2.5}, r"retries=2\.5 must be a whole number"),
        ({"retries": 1, "retry_delay": 0}, r"retry_delay=0 must be a number of seconds, at least 0\.1"),
        ({"retries": 1, "retry_timeouts": "yes"}, r"retry_timeouts='yes' must be True or False"),
        ({"timeout": 0}, r"job 'r': timeout=0 must be a positive number of seconds"),
        ({"timeout": float("nan")}, r"timeout=nan must be a finite number of seconds"),
    ],
)
def test_bad_retry_and_timeout_options_name_the_job_and_the_fix(options: dict[str, object], message: str) -> None:
    with pytest.raises(JobDefinitionError, match=message):
        Jobs().every(seconds=5, id="r", **options)(lambda: None)  # type: ignore[arg-type]


def test_json_log_lines_carry_the_fields_of_extra_and_mask_them() -> None:
    """A user's logging.info(..., extra={...}) keeps its fields as keys in JSON logs (they were dropped)."""
    from scheduler_proc.logs import JsonFormatter
    from scheduler_proc.redact import remember

    remember(["s3cr3t-value-0123"])
    record = logging.LogRecord("shop.jobs", logging.INFO, "", 0, "synced %d orders", (3,), None)
    record.order_batch = 7
    record.token_used = "s3cr3t-value-0123"
    line = json.loads(JsonFormatter().format(record))
    assert (line["message"], line["order_batch"], line["token_used"]) == ("synced 3 orders", 7, "***"), line
    assert "job_id" not in line, "only the kit's own lines are read for fire fields"
