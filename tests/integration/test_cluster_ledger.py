"""The Ledger interface's guarantees (scheduler_proc/coordination/interfaces.py), each test run on a
real Redis and on a real PostgreSQL (the ``ledger_factory`` fixture): a fire is claimed once, only
under the current term, never at or before the floor nor ahead of the store's clock;
max_instances counts the cluster's live runs; outcomes, history, pauses and the leader record
are shared by every node."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from store_support import StoreKit

from scheduler_proc.coordination.records import ClaimRequest, ClaimResult, HistoryLimits, LiveRun, Run
from scheduler_proc.coordination.term import RUN_ID_PREFIX, Term


def _run(job_id: str, run_id: str, at: datetime, outcome: str = "success", term: int | None = None) -> Run:
    return Run(job_id, run_id, at, "a", term, "schedule", at.timestamp(), at.timestamp() + 1, outcome, None)  # type: ignore[arg-type]


def test_a_fire_is_claimed_once_and_a_lost_reply_is_claimed_again(ledger_factory: StoreKit) -> None:
    term = ledger_factory.lead("a")
    ledger = ledger_factory.ledger()
    at = datetime.now(UTC)
    assert ledger.claim("j", at, term, "a", "r1") is ClaimResult.CLAIMED
    assert ledger.claim("j", at, term, "a", "r1") is ClaimResult.CLAIMED, "the same run asking again"
    assert ledger.claim("j", at, term, "a", "r2") is ClaimResult.DUPLICATE
    assert ledger.last_claimed("j") == at and ledger.last_claimed_all() == {"j": at}
    manual = at + timedelta(microseconds=1)
    assert ledger.claim("j", manual, term, "a", "m1", manual=True) is ClaimResult.CLAIMED
    assert ledger.last_claimed("j") == at, "a manual run does not move where catch-up resumes"
    assert ledger_factory.ledger().claim("j", at, term, "a", "r3") is ClaimResult.DUPLICATE, "another node"


def test_a_term_that_ended_is_fenced_off(ledger_factory: StoreKit) -> None:
    old = ledger_factory.lead("a")
    ledger = ledger_factory.ledger()
    at = datetime.now(UTC)
    forged = Term(fencing_token=old.fencing_token, is_current=lambda: True, lease_token="1:forged:a")
    assert ledger.claim("j", at, forged, "a", "r0") is ClaimResult.FENCED
    ledger_factory.release("a")
    assert ledger.claim("j", at, old, "a", "r1") is ClaimResult.FENCED, "a released term must not claim"
    new = ledger_factory.lead("b")
    assert new.fencing_token is not None and old.fencing_token is not None
    assert new.fencing_token > old.fencing_token
    assert ledger.claim("j", at, old, "a", "r1") is ClaimResult.FENCED
    assert ledger.claim("j", at, new, "b", "r2") is ClaimResult.CLAIMED
    assert (
        ledger.claim_many([ClaimRequest("k", at, "r3"), ClaimRequest("l", at, "r4")], old, "a")
        == [ClaimResult.FENCED] * 2
    )


def test_nothing_at_or_before_the_floor_nor_ahead_of_the_stores_clock_is_claimed(ledger_factory: StoreKit) -> None:
    term = ledger_factory.lead("a")
    ledger = ledger_factory.ledger()
    floor = datetime.now(UTC).replace(microsecond=0)
    ledger_factory.set_floor(floor, "the store may have lost claims")
    assert ledger.resume_floor() == (floor, "the store may have lost claims")
    assert ledger.claim("j", floor, term, "a", "r1") is ClaimResult.FLOORED, "it may have run before"
    assert ledger.claim("j", floor + timedelta(milliseconds=1), term, "a", "r2") is ClaimResult.CLAIMED
    ahead = datetime.now(UTC) + timedelta(seconds=30)  # beyond the margin (2 x SCHEDULER_MAX_CLOCK_OFFSET)
    assert ledger.claim("j", ahead, term, "a", "r3") is ClaimResult.EARLY


def test_max_instances_counts_other_processes_live_runs_but_not_a_dead_ones(ledger_factory: StoreKit) -> None:
    term = ledger_factory.lead("a")
    ledger = ledger_factory.ledger()
    at = datetime.now(UTC)
    elsewhere = "0ther0pr"  # another process's run-id prefix (8 characters, as term.RUN_ID_PREFIX)
    assert elsewhere != RUN_ID_PREFIX
    [first] = ledger.claim_many([ClaimRequest("job", at, f"{elsewhere}00000001", max_instances=1)], term, "b")
    assert first is ClaimResult.CLAIMED and ledger_factory.has_marker("job", f"{elsewhere}00000001")
    mine = [ClaimRequest("job", at + timedelta(seconds=i), f"{RUN_ID_PREFIX}{i:08x}", max_instances=1) for i in (1, 2)]
    assert ledger.claim_many(mine[:1], term, "a") == [ClaimResult.BUSY], "the other process runs one"
    assert ledger.claim_many([mine[0]._replace(max_instances=2)], term, "a") == [ClaimResult.CLAIMED]
    assert ledger.claim_many([mine[1]._replace(max_instances=2, running_here=1)], term, "a") == [ClaimResult.BUSY]
    ledger_factory.bury(elsewhere)
    assert ledger.claim_many([mine[1]._replace(max_instances=2, running_here=1)], term, "a") == [ClaimResult.CLAIMED], (
        "a process proven dead no longer counts"
    )


def test_finish_records_the_outcome_and_keeps_each_kind_of_history_to_its_limit(ledger_factory: StoreKit) -> None:
    term = ledger_factory.lead("a")
    ledger = ledger_factory.ledger(history=HistoryLimits(succeeded=2, other=1))
    start = datetime.now(UTC)
    fires = [start + timedelta(milliseconds=i) for i in range(5)]
    outcomes = ["error", "success", "success", "success", "error"]
    assert (
        ledger.claim_many([ClaimRequest("j", at, f"r{i}") for i, at in enumerate(fires)], term, "a")
        == [ClaimResult.CLAIMED] * 5
    )
    assert ledger.last_runs()["j"].outcome == "running"
    ledger.finish_many([_run("j", f"r{i}", at, outcomes[i], term.fencing_token) for i, at in enumerate(fires[:4])])
    ledger.finish(_run("j", "r4", fires[4], "error", term.fencing_token))
    record = ledger.last_runs()["j"]
    assert (record.scheduled_at, record.outcome, record.node) == (fires[4], "error", "a")
    assert record.finished_at == fires[4].timestamp() + 1
    history = ledger.history("j", 10)
    assert [run.run_id for run in history] == ["r4", "r3", "r2"], "2 successes and 1 other kept, newest first"
    assert history[0].term == term.fencing_token and history[0].duration == 1.0
    assert [run.run_id for run in ledger.history("j", 2)] == ["r4", "r3"]
    assert ledger.claim("j", fires[0], term, "a", "again") is ClaimResult.DUPLICATE, "the claim stays after its run"


def test_a_lost_marker_is_written_again_but_never_one_of_a_run_that_ended(ledger_factory: StoreKit) -> None:
    term = ledger_factory.lead("a")
    ledger = ledger_factory.ledger()
    at = datetime.now(UTC)
    [claimed] = ledger.claim_many([ClaimRequest("job", at, "p1-run", max_instances=1)], term, "a")
    assert claimed is ClaimResult.CLAIMED and ledger_factory.has_marker("job", "p1-run")
    ledger_factory.lose_markers("job")
    assert not ledger_factory.has_marker("job", "p1-run")
    ledger.keep_running([LiveRun("job", at, "p1-run")])
    assert ledger_factory.has_marker("job", "p1-run"), "the renewal writes the marker again"
    late = [LiveRun("job", at, "p1-run")]  # read while the run still went on
    ledger.finish(_run("job", "p1-run", at))
    assert not ledger_factory.has_marker("job", "p1-run")
    ledger.keep_running(late)
    assert not ledger_factory.has_marker("job", "p1-run"), "the late renewal brought it back"


def test_an_abandoned_run_keeps_counting_until_its_marker_expires_or_its_process_is_buried(
    ledger_factory: StoreKit,
) -> None:
    """A runner that stops with a job still running records it abandoned, then exits: the job's thread
    dies with the process, a moment after the record. The record used to drop the marker, so another
    node claimed the next fire while the abandoned run still ran (make chaos on PostgreSQL: a HUP whose
    stop grace expired during a run of `long`, 2 instances at once)."""
    term = ledger_factory.lead("a")
    ledger = ledger_factory.ledger()
    at = datetime.now(UTC)
    stopping = "st0pp1ng"  # the stopping runner's run-id prefix
    [claimed] = ledger.claim_many([ClaimRequest("job", at, f"{stopping}00000001", max_instances=1)], term, "a")
    assert claimed is ClaimResult.CLAIMED
    ledger.finish(_run("job", f"{stopping}00000001", at, "abandoned", term.fencing_token))
    assert ledger_factory.has_marker("job", f"{stopping}00000001"), "an abandoned run may still be running"
    later = ClaimRequest("job", at + timedelta(seconds=1), f"{RUN_ID_PREFIX}00000001", max_instances=1)
    assert ledger.claim_many([later], term, "b") == [ClaimResult.BUSY]
    ledger_factory.bury(stopping)  # its supervisor saw the process gone
    assert ledger.claim_many([later], term, "b") == [ClaimResult.CLAIMED]


def test_settle_moves_last_claims_forward_only(ledger_factory: StoreKit) -> None:
    term = ledger_factory.lead("a")
    ledger = ledger_factory.ledger()
    now = datetime.now(UTC)
    assert ledger.claim("ahead", now, term, "a", "r1") is ClaimResult.CLAIMED
    earlier = now - timedelta(hours=1)
    ledger.settle(["ahead", "behind"], earlier)
    assert ledger.last_claimed_all() == {"ahead": now, "behind": earlier}
    ledger.settle(["behind"], now)
    assert ledger.last_claimed("behind") == now and ledger.last_claimed("never") is None


def test_a_burst_is_claimed_and_recorded_in_chunks_each_fire_once(ledger_factory: StoreKit) -> None:
    term = ledger_factory.lead("a")
    ledger = ledger_factory.ledger()
    at = datetime.now(UTC)
    count = 500 * 2 + 7  # three chunks of both ledgers, the last one partial
    requests = [ClaimRequest(f"job:{i}", at, f"r{i}") for i in range(count)]  # ':' in ids, as users may write
    requests.insert(499, ClaimRequest("job:0", at, "again"))  # a duplicate inside the first chunk
    results = ledger.claim_many(requests, term, "a")
    assert results.count(ClaimResult.CLAIMED) == count and results[499] is ClaimResult.DUPLICATE
    assert ledger.claim_many(requests[:3], term, "a") == [ClaimResult.CLAIMED] * 3, "a retry is granted again"
    ledger.finish_many([_run(f"job:{i}", f"r{i}", at, "success" if i % 2 else "error") for i in range(count)])
    runs = ledger.last_runs()
    assert runs["job:3"].outcome == "success" and runs["job:1006"].outcome == "error"


def test_pauses_and_the_leader_record_are_shared_by_every_node(ledger_factory: StoreKit) -> None:
    one, other = ledger_factory.ledger(), ledger_factory.ledger()
    one.set_paused("j", True)
    one.set_paused("j", True)
    assert other.paused() == {"j"}
    other.set_paused("j", False)
    assert one.paused() == set()
    assert one.leader_record() == {}
    one.set_leader_record({"jobs": "app.jobs:jobs", "node": "a", "tzdata": "2025b"})
    other.set_leader_record({"jobs": "app.jobs:jobs", "node": "b"})
    assert one.leader_record() == {"jobs": "app.jobs:jobs", "node": "b"}, "replaced whole"


def test_the_stores_clock_is_one_reference_for_every_node(ledger_factory: StoreKit) -> None:
    now = ledger_factory.ledger().now()
    assert now.tzinfo is not None and abs((now - datetime.now(UTC)).total_seconds()) < 5


def test_an_outcome_without_an_end_time_is_recorded_as_such(ledger_factory: StoreKit) -> None:
    """A run abandoned with its process has no end time: recorded, and shown without one."""
    term = ledger_factory.lead("a")
    ledger = ledger_factory.ledger()
    at = datetime.now(UTC)
    assert ledger.claim("j", at, term, "a", "r1") is ClaimResult.CLAIMED
    ledger.finish(Run("j", "r1", at, "a", term.fencing_token, "schedule", at.timestamp(), None, "abandoned", None))
    record = ledger.last_runs()["j"]
    assert (record.outcome, record.finished_at) == ("abandoned", None)
    [run] = ledger.history("j", 10)
    assert (run.outcome, run.finished_at, run.error) == ("abandoned", None, None)
