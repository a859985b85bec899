"""The fire ledger in Redis: a claim is accepted only from the current term, and only once."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import redis

from scheduler_proc.coordination.lease.leasestate import floor_margin_ms
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
from scheduler_proc.coordination.redis import decode
from scheduler_proc.coordination.redis.conn import Client, LuaScript, call, refresh_topology, slot_client
from scheduler_proc.coordination.redis.keys import Keys
from scheduler_proc.coordination.redis.replies import claim_reply
from scheduler_proc.coordination.redis.scripts import source
from scheduler_proc.coordination.term import RUN_ID_PREFIX, Term
from scheduler_proc.coordination.unreadable import report
from scheduler_proc.errors import RedisConfigError, RedisUnavailable, UnreadableData
from scheduler_proc.formats.history import encode_run
from scheduler_proc.formats.vocabulary import RunOutcome, last_outcome
from scheduler_proc.settings import RedisSettings

log = logging.getLogger("scheduler.ledger")

#: Fires per claim script call, and runs per record script call: a call blocks Redis for
#: its duration (about 5 µs per fire), so other nodes' lease renewals never wait long.
CHUNK = 500

# The ledger's scripts: what each takes and returns is in the header of lua/<name>.lua.
CLAIM = source("claim")
FINISH = source("finish")
KEEP_RUNNING = source("keep_running")
SETTLE = source("settle")


def _decoded(chunks: list[list[ClaimRequest]], answers: list[Any]) -> list[ClaimResult]:
    """Each chunk's claim script answer; one that cannot be read counts as no claim made."""
    results: list[ClaimResult] = []
    for chunk, answer in zip(chunks, answers, strict=False):
        try:
            results += claim_reply(answer, len(chunk))
        except ValueError as exc:  # not run now: a retry under the same run id finds its claim if one was made
            log.error("%s; not running these fires now", exc)
            results += [ClaimResult.UNAVAILABLE] * len(chunk)
    return results


class RedisLedger:
    """Claims and outcomes in Redis (JSON-free hashes and plain strings; nothing pickled)."""

    counts_instances = True

    def __init__(
        self,
        settings: RedisSettings,
        client: Client,
        keys: Keys,
        retention: float,
        history: HistoryLimits = DEFAULT_HISTORY,
    ) -> None:
        self._history = history
        self._settings = settings
        self._client = client
        self._keys = keys
        self._retention_ms = int(retention * 1000)
        self._finish = LuaScript(client, FINISH)
        self._keep_running = LuaScript(client, KEEP_RUNNING)
        # A node that dies stops renewing its runs' markers: they go within one lease TTL.
        self._marker_ttl_ms = int(settings.lease_ttl * 1000)
        self._settle = LuaScript(client, SETTLE)

    def claim(
        self, job_id: str, scheduled_at: datetime, term: Term, node: str, run_id: str, manual: bool = False
    ) -> ClaimResult:
        return self.claim_many([ClaimRequest(job_id, scheduled_at, run_id, manual)], term, node)[0]

    def claim_many(self, requests: list[ClaimRequest], term: Term, node: str) -> list[ClaimResult]:
        """Claim fires in one round trip: a script call per chunk, then WAIT, all on one connection.

        Each call fences once and dedupes every fire atomically. WAIT must share the
        claims' connection: after a Sentinel failover a client's pool can hold connections
        to both the old and the new master, and a WAIT sent elsewhere would vouch for
        claims that only the old master took.
        """
        if not requests:
            return []
        try:
            pipe = call(self._settings, lambda: slot_client(self._client, self._keys.leader)).pipeline(
                transaction=False
            )
        except (RedisUnavailable, RedisConfigError) as exc:
            log.debug("claim of %d fire(s) failed: %s", len(requests), exc)
            return [ClaimResult.UNAVAILABLE] * len(requests)
        chunks: list[list[ClaimRequest]] = []
        start = 0
        while start < len(requests):  # chunks of at most CHUNK fires, manual and scheduled apart
            manual = requests[start].manual
            end = start + 1
            while end < len(requests) and end - start < CHUNK and requests[end].manual == manual:
                end += 1
            chunks.append(requests[start:end])
            keys, args = self._claim_arguments(requests[start:end], manual, term, node)
            pipe.eval(CLAIM, len(keys), *keys, *args)  # EVAL, not EVALSHA: no script-cache round trip
            start = end
        wanted = self._settings.min_replicas
        if wanted:
            pipe.wait(wanted, max(1, int(self._settings.wait_timeout * 1000)))
        try:
            answers = call(self._settings, pipe.execute)
        except redis.ResponseError:
            self._repair([self._keys.running(r.job_id) for r in requests], {self._keys.dead: "set"})
            return [ClaimResult.UNAVAILABLE] * len(requests)
        except (RedisUnavailable, RedisConfigError) as exc:
            log.debug("claim of %d fire(s) failed: %s", len(requests), exc)
            refresh_topology(self._client)  # a Redis Cluster node answered MOVED or is gone: ask again
            return [ClaimResult.UNAVAILABLE] * len(requests)
        results = _decoded(chunks, answers)
        if wanted and ClaimResult.CLAIMED in results and int(answers[-1]) < wanted:
            log.warning(
                "claim acknowledged by %d of %d replicas within %gs; not running it, since a failover "
                "now could lose the claim",
                int(answers[-1]),
                wanted,
                self._settings.wait_timeout,
            )
            results = [ClaimResult.UNREPLICATED if r is ClaimResult.CLAIMED else r for r in results]
        return results

    def _claim_arguments(
        self, requests: list[ClaimRequest], manual: bool, term: Term, node: str
    ) -> tuple[list[str], list[str | int | float]]:
        keys = [self._keys.leader, self._keys.last, self._keys.floor, self._keys.server, self._keys.dead]
        args: list[str | int | float] = [
            term.lease_token or "",
            self._retention_ms,
            node,
            term.fencing_token or 0,
            time.time(),
            len(self._keys.fire_prefix),
            "1" if manual else "0",
            self._marker_ttl_ms,
            RUN_ID_PREFIX,
            floor_margin_ms(self._settings),
        ]
        for request in requests:
            fire = self._keys.fire(request.job_id, to_micros(request.scheduled_at))
            keys += (fire, self._keys.running(request.job_id))
            args += (request.run_id, request.max_instances, request.running_here)
        return keys, args

    def finish(self, run: Run) -> None:
        self.finish_many([run])

    def finish_many(self, runs: list[Run]) -> None:
        """Record outcomes and push the runs onto their histories, one script call per chunk."""
        for first in range(0, len(runs), CHUNK):
            self._finish_chunk(runs[first : first + CHUNK])

    def _finish_chunk(self, runs: list[Run]) -> None:
        keys: list[str] = []
        args: list[str | int | float] = [self._history.succeeded, self._retention_ms, self._history.other]
        for run in runs:
            fire = self._keys.fire(run.job_id, to_micros(run.scheduled_at))
            keys += (fire, self._history_of(run.job_id, run.outcome), self._keys.running(run.job_id))
            args += (run.run_id, run.outcome, run.finished_at or 0, run.error or "", encode_run(run.to_dict()))
        try:
            try:
                call(self._settings, lambda: self._finish(keys, args))
            except redis.ResponseError:
                self._repair(keys[2::3], {history: "list" for history in keys[1::3]})
                call(self._settings, lambda: self._finish(keys, args))
        except (RedisUnavailable, RedisConfigError, redis.ResponseError) as exc:
            log.warning("outcome of %d run(s) not recorded: %s", len(runs), exc)

    def keep_running(self, runs: list[LiveRun]) -> None:
        """Renew (or write again) the running markers of these runs, in one script call per chunk."""
        for first in range(0, len(runs), CHUNK):
            chunk = runs[first : first + CHUNK]
            keys = [
                key
                for run in chunk
                for key in (self._keys.running(run.job_id), self._keys.fire(run.job_id, to_micros(run.scheduled_at)))
            ]
            args: list[str | int] = [self._marker_ttl_ms, *(run.run_id for run in chunk)]
            self._keep_chunk(keys, args)

    def _keep_chunk(self, keys: list[str], args: list[str | int]) -> None:
        try:
            call(self._settings, lambda: self._keep_running(keys=keys, args=args))
        except redis.ResponseError:
            # The keys alternate: a running set, then the fire's hash (a claim: never deleted as a
            # "running set of the wrong type").
            self._repair(keys[0::2], {fire: "hash" for fire in keys[1::2]})

    def _repair(self, running: list[str], others: dict[str, str]) -> None:
        """After a script met a key of another type than the kit writes: delete such keys (each logged once)."""
        try:
            decode.repair_types(self._settings, self._client, {**dict.fromkeys(running, "zset"), **others})
        except (RedisUnavailable, RedisConfigError, redis.ResponseError) as exc:
            log.warning("could not check the types of the keys a script refused: %s", exc)

    def _history_of(self, job_id: str, outcome: RunOutcome) -> str:
        return self._keys.history(job_id) if outcome == "success" else self._keys.failures(job_id)

    def history(self, job_id: str, limit: int) -> list[Run]:
        """The job's last ``limit`` runs, newest first, from its two histories (successes, the others)."""
        runs: list[Run] = []
        for key in (self._keys.history(job_id), self._keys.failures(job_id)):
            try:
                raw = decode.typed(
                    self._settings,
                    self._client,
                    key,
                    "list",
                    lambda key=key: self._client.lrange(key, 0, max(0, limit - 1)),  # type: ignore[misc]
                )
            except UnreadableData as exc:
                report(exc)
                continue
            runs += parse_history(job_id, [str(item) for item in raw])
        return newest_first(runs, limit)

    def leader_record(self) -> dict[str, str]:
        try:
            record = call(self._settings, lambda: self._client.hgetall(self._keys.app))
        except redis.ResponseError:  # not a hash (written by hand, or by 0.2's first cut): none
            return {}
        return {str(name): str(value) for name, value in record.items()}

    def set_leader_record(self, fields: dict[str, str]) -> None:
        def write() -> None:
            pipe = self._client.pipeline(transaction=True)
            pipe.delete(self._keys.app)
            mapping: dict[Any, Any] = dict(fields)  # redis-py's stubs want a mapping of its own key types
            pipe.hset(self._keys.app, mapping=mapping)
            pipe.execute()

        call(self._settings, write)

    def paused(self) -> set[str]:
        key = self._keys.paused
        try:
            return {
                str(job)
                for job in decode.typed(self._settings, self._client, key, "hash", lambda: self._client.hkeys(key))
            }
        except UnreadableData as exc:
            report(exc)
            return set()

    def set_paused(self, job_id: str, paused: bool) -> None:
        if paused:
            call(self._settings, lambda: self._client.hsetnx(self._keys.paused, job_id, str(time.time())))
        else:
            call(self._settings, lambda: self._client.hdel(self._keys.paused, job_id))

    def last_claimed(self, job_id: str) -> datetime | None:
        return self.last_claimed_all().get(job_id)

    def last_claimed_all(self) -> dict[str, datetime]:
        """Each job's last scheduled claim: one HGETALL, however many jobs."""
        key = self._keys.last
        try:
            last = decode.typed(self._settings, self._client, key, "hash", lambda: self._client.hgetall(key))
        except UnreadableData as exc:  # the claim script cannot write it either: delete it
            report(exc)
            return {}
        claimed: dict[str, datetime] = {}
        for job_id, micros in last.items():
            try:
                claimed[str(job_id)] = from_micros(int(decode.count(key, micros, str(job_id), "a time (µs)")))
            except (UnreadableData, OverflowError, ValueError, OSError) as exc:
                report(exc if isinstance(exc, UnreadableData) else decode.unreadable(key, micros, "a time"))
        return claimed

    def last_runs(self) -> dict[str, RunRecord]:
        """Each job's last claimed fire and its outcome, in two round trips (pipelined)."""
        try:
            last = self.last_claimed_all()
            pipe = self._client.pipeline(transaction=False)
            for job_id, at in last.items():
                pipe.hgetall(self._keys.fire(job_id, to_micros(at)))
            fires = call(self._settings, lambda: pipe.execute(raise_on_error=False))
        except (RedisUnavailable, RedisConfigError):
            return {}
        return {
            job_id: _record(job_id, at, fire if isinstance(fire, dict) else {})
            for (job_id, at), fire in zip(last.items(), fires, strict=True)
        }

    def resume_floor(self) -> tuple[datetime, str] | None:
        """The cluster's floor and why it was set: no fire at or before it runs (see lua/continuity.lua)."""
        key = self._keys.floor
        try:
            floor = decode.typed(self._settings, self._client, key, "hash", lambda: self._client.hgetall(key))
            if not floor or "at" not in floor:
                return None
            at = from_micros(int(decode.count(key, floor["at"], "at", "a time (ms)")) * 1000)
        except (UnreadableData, OverflowError, ValueError, OSError) as exc:
            # The lease and claim scripts replace it with a floor of their own (now): nothing at or before runs.
            report(exc if isinstance(exc, UnreadableData) else decode.unreadable(key, floor, "a floor"))
            return None
        return at, str(floor.get("reason", "Redis may have lost claims"))

    def settle(self, job_ids: list[str], at: datetime) -> None:
        micros = to_micros(at)
        call(self._settings, lambda: self._settle(keys=[self._keys.last], args=[micros, *job_ids]))

    def now(self) -> datetime:
        """Redis's clock: one reference for all nodes when there is no claim to resume from."""
        seconds, micros = call(self._settings, lambda: self._client.time())
        return datetime.fromtimestamp(seconds + micros / 1_000_000, tz=UTC)

    def close(self) -> None:
        self._client.close()


def _record(job_id: str, at: datetime, fire: dict[str, Any]) -> RunRecord:
    """A fire hash as a record; a field it cannot read shows as unknown (the hash expires with its retention)."""
    try:
        finished: float | None = decode.count("fire", fire["finished_at"], "finished_at", "a time")
    except (KeyError, UnreadableData):
        finished = None
    return RunRecord(
        job_id,
        at,
        str(fire.get("node", "?")),
        last_outcome(fire.get("outcome")),
        finished or None,
    )
