-- finish: record a chunk of outcomes, drop the runs' markers, push the runs onto their histories.
-- KEYS[1..] per run, three keys: the fire's hash, its job's history list for its outcome
--   (successes, or the others) and its job's running set
-- ARGV[1] successes kept per history
-- ARGV[2] retention: how long a claim written again is kept, ms
-- ARGV[3] other runs kept per history
-- ARGV[4..] per run, five values: run id, outcome, finished at, error, the run as JSON
-- A claim Redis lost is written again for a run that ran, so a late keep_running sees the run
-- ended and does not bring its marker back. An abandoned run keeps its marker: its process records it
-- just before it exits, and the job's thread runs until then; the marker expires within the lease
-- TTL, or stops counting once the process is proven dead. Each history touched is trimmed once. Returns 1.

local trimmed = {}
for i = 1, #KEYS, 3 do
  local a = 4 + (i - 1) / 3 * 5
  local owner = redis.call('HGET', KEYS[i], 'run_id')
  if owner == ARGV[a] or (not owner and ARGV[a + 1] ~= 'skipped') then
    redis.call('HSET', KEYS[i], 'run_id', ARGV[a], 'outcome', ARGV[a + 1], 'finished_at', ARGV[a + 2],
               'error', ARGV[a + 3])
    if not owner then redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
  end
  if ARGV[a + 1] ~= 'abandoned' then redis.call('ZREM', KEYS[i + 2], ARGV[a]) end
  redis.call('LPUSH', KEYS[i + 1], ARGV[a + 4])
  trimmed[KEYS[i + 1]] = ARGV[a + 1] == 'success' and ARGV[1] or ARGV[3]
end
for history, size in pairs(trimmed) do redis.call('LTRIM', history, 0, tonumber(size) - 1) end
return 1
