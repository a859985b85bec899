"""The fire ledger in PostgreSQL: a claim is accepted only from the current term, and only once.

The rules live in the functions of ``sql/ledger.sql`` (claim, finish, keep_running, settle), so
each chunk of claims or outcomes is one statement, atomic; this module passes arguments and
reads answers. Nothing is pickled: the history holds each run as the JSON text of
``formats/history.py``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg

from scheduler_proc.coordination.claimletters import claim_letters
from scheduler_proc.coordination.lease.leasestate import floor_margin_ms
from scheduler_proc.coordination.postgres.conn import Client, Connection
from scheduler_proc.coordination.postgres.statements import Statements
from scheduler_proc.coordination.records import (
    DEFAULT_HISTORY,
    ClaimRequest,
    ClaimResult,
    HistoryLimits,
    LiveRun,
    Run,
    RunRecord,
    from_micros,
    newest_first,
    parse_history,
    to_micros,
)
from scheduler_proc.coordination.term import RUN_ID_PREFIX, Term
from scheduler_proc.coordination.unreadable import readable, report
from scheduler_proc.errors import StoreConfigError, StoreUnavailable, UnreadableData
from scheduler_proc.formats.history import encode_run
from scheduler_proc.formats.vocabulary import last_outcome
from scheduler_proc.settings import PostgresSettings

log = logging.getLogger("scheduler.ledger")

#: Fires per claim statement, and runs per finish or keep_running statement: each holds the
#: lease row (a claim) or its runs' locks while it runs, so other calls never wait long.
CHUNK = 500

_CLAIM = """SELECT {schema}.claim(%s::text, %s::bigint, %s::text, %s::boolean, %s::bigint, %s::bigint, %s::text,
  %s::bigint, %s::double precision, %s::text[], %s::bigint[], %s::text[], %s::int[], %s::int[])"""
_FINISH = """SELECT {schema}.finish(%s::bigint, %s::int, %s::int, %s::text[], %s::text[], %s::bigint[], %s::text[],
  %s::double precision[], %s::text[], %s::text[])"""
_KEEP_RUNNING = "SELECT {schema}.keep_running(%s::bigint, %s::text[], %s::text[], %s::bigint[])"
_SETTLE = "SELECT {schema}.settle(%s::bigint, %s::text[])"
_HISTORY = """(SELECT entry FROM {schema}.runs WHERE job_id = %(job)s AND succeeded ORDER BY id DESC LIMIT %(n)s)
  UNION ALL (SELECT entry FROM {schema}.runs WHERE job_id = %(job)s AND NOT succeeded ORDER BY id DESC LIMIT %(n)s)"""
_LAST_CLAIMS = "SELECT job_id, scheduled_us FROM {schema}.last_claims"
_LAST_RUNS = """SELECT l.job_id, l.scheduled_us, f.node, f.outcome, f.finished_at FROM {schema}.last_claims AS l
  LEFT JOIN {schema}.fires AS f
  ON f.job_id = l.job_id AND f.scheduled_us = l.scheduled_us AND f.expires_at >= clock_timestamp()"""
_FLOOR = "SELECT at_us, reason FROM {schema}.floor WHERE id = 1"
_PAUSED = "SELECT job_id FROM {schema}.paused"
_PAUSE = "INSERT INTO {schema}.paused (job_id, paused_at) VALUES (%s, %s) ON CONFLICT (job_id) DO NOTHING"
_RESUME = "DELETE FROM {schema}.paused WHERE job_id = %s"
_LEADER_RECORD = "SELECT name, value FROM {schema}.leader_record"
_FORGET_LEADER = "DELETE FROM {schema}.leader_record"
_RECORD_LEADER = "INSERT INTO {schema}.leader_record (name, value) SELECT * FROM unnest(%s::text[], %s::text[])"


def _chunks(requests: list[ClaimRequest]) -> list[list[ClaimRequest]]:
    """Chunks of at most CHUNK fires, manual and scheduled ones apart (one claim call each)."""
    chunks: list[list[ClaimRequest]] = []
    for request in requests:
        if chunks and len(chunks[-1]) < CHUNK and chunks[-1][0].manual == request.manual:
            chunks[-1].append(request)
        else:
            chunks.append([request])
    return chunks


class PostgresLedger:
    """Claims and outcomes in the app's schema (typed columns, the history as JSON text)."""

    counts_instances = True

    def __init__(
        self, settings: PostgresSettings, client: Client, retention: float, history: HistoryLimits = DEFAULT_HISTORY
    ) -> None:
        self._client = client
        self._history = history
        self._retention_ms = int(retention * 1000)
        # A node that dies stops renewing its runs' markers: they stop counting within one lease TTL.
        self._marker_ttl_ms = int(settings.lease_ttl * 1000)
        self._margin_ms = floor_margin_ms(settings)
        self._statements = Statements(client)
        self._rows = self._statements.rows

    def claim(
        self, job_id: str, scheduled_at: datetime, term: Term, node: str, run_id: str, manual: bool = False
    ) -> ClaimResult:
        return self.claim_many([ClaimRequest(job_id, scheduled_at, run_id, manual)], term, node)[0]

    def claim_many(self, requests: list[ClaimRequest], term: Term, node: str) -> list[ClaimResult]:
        """Claim fires, one statement per chunk; each fences once and dedupes every fire atomically.

        A chunk without an answer is UNAVAILABLE, and so are the chunks after it (not sent: the
        server is in trouble); a retry under the same run ids finds any claim that was made.
        """
        results: list[ClaimResult] = []
        for chunk in _chunks(requests):
            if results and results[-1] is ClaimResult.UNAVAILABLE:
                results += [ClaimResult.UNAVAILABLE] * len(chunk)
                continue
            results += self._claim_chunk(chunk, term, node)
        return results

    def _claim_chunk(self, chunk: list[ClaimRequest], term: Term, node: str) -> list[ClaimResult]:
        params = (
            term.lease_token or "",
            term.fencing_token or 0,
            node,
            chunk[0].manual,
            self._retention_ms,
            self._marker_ttl_ms,
            RUN_ID_PREFIX,
            self._margin_ms,
            time.time(),
            [r.job_id for r in chunk],
            [to_micros(r.scheduled_at) for r in chunk],
            [r.run_id for r in chunk],
            [r.max_instances for r in chunk],
            [r.running_here for r in chunk],
        )
        statement = self._statements.compose(_CLAIM)
        unreplicated: list[str] = []  # PostgreSQL's warnings that a commit was not replicated

        def claim(conn: Connection) -> list[tuple[Any, ...]]:
            heard = _unreplicated_commits(unreplicated)
            conn.add_notice_handler(heard)
            try:
                return conn.execute(statement, params).fetchall()
            finally:
                conn.remove_notice_handler(heard)

        try:
            [(answer,)] = self._statements.run(claim)
            results = claim_letters(str(answer), len(chunk))
            if unreplicated and ClaimResult.CLAIMED in results:
                log.warning(
                    "claim committed but its wait for a synchronous standby was cancelled (%s); not running "
                    "it, since a failover now could lose the claim",
                    unreplicated[0],
                )
                return [ClaimResult.UNREPLICATED if r is ClaimResult.CLAIMED else r for r in results]
            return results
        except (StoreUnavailable, StoreConfigError) as exc:
            log.debug("claim of %d fire(s) failed: %s", len(chunk), exc)
        except ValueError as exc:  # not run now: a retry under the same run id finds its claim if one was made
            log.error("%s; not running these fires now", exc)
        return [ClaimResult.UNAVAILABLE] * len(chunk)

    def finish(self, run: Run) -> None:
        self.finish_many([run])

    def finish_many(self, runs: list[Run]) -> None:
        """Record outcomes and add the runs to their histories, one statement per chunk."""
        for first in range(0, len(runs), CHUNK):
            chunk = runs[first : first + CHUNK]
            params = (
                self._retention_ms,
                self._history.succeeded,
                self._history.other,
                [run.run_id for run in chunk],
                [run.job_id for run in chunk],
                [to_micros(run.scheduled_at) for run in chunk],
                [run.outcome for run in chunk],
                [run.finished_at for run in chunk],
                [run.error for run in chunk],
                [encode_run(run.to_dict()) for run in chunk],
            )
            try:
                self._rows(_FINISH, params)
            except (StoreUnavailable, StoreConfigError) as exc:
                log.warning("outcome of %d run(s) not recorded: %s", len(chunk), exc)

    def keep_running(self, runs: list[LiveRun]) -> None:
        """Renew (or write again) the running markers of these runs, one statement per chunk."""
        for first in range(0, len(runs), CHUNK):
            chunk = runs[first : first + CHUNK]
            self._rows(
                _KEEP_RUNNING,
                (
                    self._marker_ttl_ms,
                    [run.run_id for run in chunk],
                    [run.job_id for run in chunk],
                    [to_micros(run.scheduled_at) for run in chunk],
                ),
            )

    def history(self, job_id: str, limit: int) -> list[Run]:
        """The job's last ``limit`` runs, newest first, from its two histories (successes, the others)."""
        rows = self._rows(_HISTORY, {"job": job_id, "n": max(0, limit)})
        return newest_first(parse_history(job_id, [str(entry) for (entry,) in rows]), limit)

    def leader_record(self) -> dict[str, str]:
        return {str(name): str(value) for name, value in self._rows(_LEADER_RECORD)}

    def set_leader_record(self, fields: dict[str, str]) -> None:
        forget, record = self._statements.compose(_FORGET_LEADER), self._statements.compose(_RECORD_LEADER)

        def write(conn: Connection) -> None:
            with conn.transaction():
                conn.execute(forget)
                conn.execute(record, (list(fields), list(fields.values())))

        self._statements.run(write)

    def paused(self) -> set[str]:
        return {str(job_id) for (job_id,) in self._rows(_PAUSED)}

    def set_paused(self, job_id: str, paused: bool) -> None:
        if paused:
            self._rows(_PAUSE, (job_id, time.time()))
        else:
            self._rows(_RESUME, (job_id,))

    def last_claimed(self, job_id: str) -> datetime | None:
        return self.last_claimed_all().get(job_id)

    def last_claimed_all(self) -> dict[str, datetime]:
        """Each job's last scheduled claim: one statement, however many jobs."""
        claimed: dict[str, datetime] = {}
        for job_id, micros in self._rows(_LAST_CLAIMS):
            moment = _moment("last_claims", str(job_id), micros)
            if moment is not None:
                claimed[str(job_id)] = moment
        return claimed

    def last_runs(self) -> dict[str, RunRecord]:
        """Each job's last claimed fire and its outcome, in one statement ({} when PostgreSQL does not answer)."""
        try:
            rows = self._rows(_LAST_RUNS)
        except (StoreUnavailable, StoreConfigError):
            return {}
        records: dict[str, RunRecord] = {}
        for job_id, micros, node, outcome, finished_at in rows:
            moment = _moment("last_claims", str(job_id), micros)
            if moment is not None:
                records[str(job_id)] = RunRecord(
                    str(job_id), moment, str(node or "?"), last_outcome(outcome), finished_at or None
                )
        return records

    def resume_floor(self) -> tuple[datetime, str] | None:
        """The cluster's floor and why it was set: no fire at or before it runs (see sql/lease.sql)."""
        rows = self._rows(_FLOOR)
        if not rows or rows[0][0] is None or rows[0][0] <= 0:
            return None
        at_us, reason = rows[0]
        moment = _moment("floor", "at_us", at_us)
        return None if moment is None else (moment, str(reason or "PostgreSQL may have lost claims"))

    def settle(self, job_ids: list[str], at: datetime) -> None:
        self._rows(_SETTLE, (to_micros(at), job_ids))

    def now(self) -> datetime:
        """PostgreSQL's clock: one reference for all nodes when there is no claim to resume from."""
        [(moment,)] = self._rows("SELECT clock_timestamp()")
        return datetime.fromtimestamp(moment.timestamp(), tz=UTC)

    def close(self) -> None:
        self._client.close()


def _unreplicated_commits(heard: list[str]) -> Callable[[psycopg.errors.Diagnostic], None]:
    """A notice handler that keeps PostgreSQL's warning that a commit's wait for synchronous
    standbys was cancelled: the commit stands on the primary, but a failover could lose it."""

    def handle(notice: psycopg.errors.Diagnostic) -> None:
        if "synchronous replication" in (notice.message_primary or ""):
            heard.append(notice.message_primary or "")

    return handle


def _moment(table: str, name: str, micros: int) -> datetime | None:
    """A stored time in µs as a datetime; one no datetime can hold is reported (once) and left out."""
    key = f"{table}:{name}"
    try:
        moment = from_micros(int(micros))
    except (OverflowError, ValueError, OSError):
        report(
            UnreadableData(
                key,
                f"{table} holds {micros!r} for {name}, not a time in µs; left out (delete the row: "
                "the next claim writes it again)",
            )
        )
        return None
    readable(key)
    return moment
