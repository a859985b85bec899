"""The fire ledger in Redis: a claim is accepted only from the current term, and only once."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

import redis

from scheduler_proc.errors import RedisConfigError, RedisUnavailable
from scheduler_proc.fire import Term
from scheduler_proc.keys import Keys
from scheduler_proc.ledger import ClaimRequest, ClaimResult, Run, RunRecord, from_micros, to_micros
from scheduler_proc.redis_conn import call
from scheduler_proc.settings import RedisSettings

log = logging.getLogger("scheduler.ledger")

# KEYS[1] leader, KEYS[2] the fire's hash, KEYS[3] last-claimed hash.
# ARGV[1] our lease token, ARGV[2] retention ms, ARGV[3] job id, ARGV[4] scheduled µs,
# ARGV[5] node, ARGV[6] term, ARGV[7] run id, ARGV[8] claimed at (epoch s), ARGV[9] '1' for a
# manual run (which does not move the last-claimed time that catch-up resumes from).
# Returns 'fenced' if our lease is not the current one, 'duplicate' if the fire was
# claimed before, 'claimed' if it is now ours (and the last-claimed time moved forward).
CLAIM = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 'fenced' end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'duplicate' end
redis.call('HSET', KEYS[2], 'job_id', ARGV[3], 'scheduled_us', ARGV[4], 'node', ARGV[5],
           'term', ARGV[6], 'run_id', ARGV[7], 'claimed_at', ARGV[8], 'outcome', 'running')
redis.call('PEXPIRE', KEYS[2], ARGV[2])
local last = tonumber(redis.call('HGET', KEYS[3], ARGV[3]) or '0')
if ARGV[9] ~= '1' and tonumber(ARGV[4]) > last then redis.call('HSET', KEYS[3], ARGV[3], ARGV[4]) end
return 'claimed'
"""

# KEYS[1] the fire's hash, KEYS[2] the job's history list. ARGV[1] run id, ARGV[2] outcome,
# ARGV[3] finished at, ARGV[4] error, ARGV[5] the run as JSON, ARGV[6] history size.
# Records the outcome on the claim this run made (if it is still there) and pushes the run
# onto the bounded history. Returns 1.
FINISH = """
if redis.call('HGET', KEYS[1], 'run_id') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'outcome', ARGV[2], 'finished_at', ARGV[3], 'error', ARGV[4])
end
redis.call('LPUSH', KEYS[2], ARGV[5])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[6]) - 1)
return 1
"""


class RedisLedger:
    """Claims and outcomes in Redis (JSON-free hashes and plain strings; nothing pickled)."""

    def __init__(
        self, settings: RedisSettings, client: redis.Redis, keys: Keys, retention: float, history_size: int = 100
    ) -> None:
        self._history_size = history_size
        self._settings = settings
        self._client = client
        self._keys = keys
        self._retention_ms = int(retention * 1000)
        self._claim = client.register_script(CLAIM)
        self._finish = client.register_script(FINISH)

    def claim(
        self, job_id: str, scheduled_at: datetime, term: Term, node: str, run_id: str, manual: bool = False
    ) -> ClaimResult:
        return self.claim_many([(job_id, scheduled_at, run_id, manual)], term, node)[0]

    def claim_many(self, requests: list[ClaimRequest], term: Term, node: str) -> list[ClaimResult]:
        """Claim several fires in one pipelined round trip (each script fences and dedupes atomically)."""
        pipe = self._client.pipeline(transaction=False)
        now = time.time()
        for job_id, scheduled_at, run_id, manual in requests:
            micros = to_micros(scheduled_at)
            args: list[str | int | float] = [
                term.lease_token or "",
                self._retention_ms,
                job_id,
                micros,
                node,
                term.token or 0,
                run_id,
                now,
                "1" if manual else "0",
            ]
            self._claim(
                keys=[self._keys.leader, self._keys.fire(job_id, micros), self._keys.last], args=args, client=pipe
            )
        try:
            answers = call(self._settings, pipe.execute)
        except (RedisUnavailable, RedisConfigError) as exc:
            log.error("claim of %d fire(s) failed: %s", len(requests), exc)
            return [ClaimResult.UNAVAILABLE] * len(requests)
        results = [ClaimResult(str(answer)) for answer in answers]
        if ClaimResult.CLAIMED in results and not self._replicated():
            results = [ClaimResult.UNREPLICATED if r is ClaimResult.CLAIMED else r for r in results]
        return results

    def finish(self, run: Run) -> None:
        self.finish_many([run])

    def finish_many(self, runs: list[Run]) -> None:
        """Record outcomes and push the runs onto their histories in one pipelined round trip."""
        pipe = self._client.pipeline(transaction=False)
        for run in runs:
            micros = to_micros(run.scheduled_at)
            args: list[str | int | float] = [
                run.run_id,
                run.outcome,
                run.finished_at or 0,
                run.error or "",
                json.dumps(run.to_dict()),
                self._history_size,
            ]
            self._finish(
                keys=[self._keys.fire(run.job_id, micros), self._keys.history(run.job_id)], args=args, client=pipe
            )
        try:
            call(self._settings, pipe.execute)
        except (RedisUnavailable, RedisConfigError) as exc:
            log.warning("outcome of %d run(s) not recorded: %s", len(runs), exc)

    def history(self, job_id: str, limit: int) -> list[Run]:
        raw = call(self._settings, lambda: self._client.lrange(self._keys.history(job_id), 0, max(0, limit - 1)))
        return [Run.from_dict(json.loads(item)) for item in raw]

    def paused(self) -> set[str]:
        return {str(job) for job in call(self._settings, lambda: self._client.hkeys(self._keys.paused))}

    def set_paused(self, job_id: str, paused: bool) -> None:
        if paused:
            call(self._settings, lambda: self._client.hsetnx(self._keys.paused, job_id, str(time.time())))
        else:
            call(self._settings, lambda: self._client.hdel(self._keys.paused, job_id))

    def last_claimed(self, job_id: str) -> datetime | None:
        return self.last_claimed_all().get(job_id)

    def last_claimed_all(self) -> dict[str, datetime]:
        """Each job's last scheduled claim: one HGETALL, however many jobs."""
        last = call(self._settings, lambda: self._client.hgetall(self._keys.last))
        return {str(job_id): from_micros(int(micros)) for job_id, micros in last.items()}

    def last_runs(self) -> dict[str, RunRecord]:
        """Each job's last claimed fire and its outcome, in two round trips (pipelined)."""
        try:
            last = self.last_claimed_all()
            pipe = self._client.pipeline(transaction=False)
            for job_id, at in last.items():
                pipe.hgetall(self._keys.fire(job_id, to_micros(at)))
            fires = call(self._settings, pipe.execute)
        except (RedisUnavailable, RedisConfigError):
            return {}
        return {job_id: _record(job_id, at, fire) for (job_id, at), fire in zip(last.items(), fires, strict=True)}

    def now(self) -> datetime:
        """Redis's clock: one reference for all nodes when there is no claim to resume from."""
        seconds, micros = call(self._settings, lambda: self._client.time())
        return datetime.fromtimestamp(seconds + micros / 1_000_000, tz=UTC)

    def close(self) -> None:
        self._client.close()

    def _replicated(self) -> bool:
        wanted = self._settings.min_replicas
        if wanted == 0:
            return True
        timeout_ms = max(1, int(self._settings.wait_timeout * 1000))
        try:
            acked = int(call(self._settings, lambda: self._client.wait(wanted, timeout_ms)))
        except (RedisUnavailable, RedisConfigError):
            acked = 0
        if acked < wanted:
            log.warning(
                "claim acknowledged by %d of %d replicas within %gs; not running it, since a failover "
                "now could lose the claim",
                acked,
                wanted,
                self._settings.wait_timeout,
            )
            return False
        return True


def _record(job_id: str, at: datetime, fire: dict[str, Any]) -> RunRecord:
    finished = fire.get("finished_at")
    return RunRecord(
        job_id,
        at,
        str(fire.get("node", "?")),
        str(fire.get("outcome", "unknown")),
        float(finished) if finished else None,
    )
