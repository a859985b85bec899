-- claim: claim a chunk of fires, each at most once.
-- uses: continuity
-- KEYS[1] leader: the lease (the caller's token must still hold it: fencing)
-- KEYS[2] last: hash job id -> its last scheduled claim (µs), where catch-up resumes
-- KEYS[3] floor: the floor hash
-- KEYS[4] server: the run id the data was written under
-- KEYS[5] dead: set of the run-id prefixes of processes proven dead
-- KEYS[6..] per fire, two keys: its hash ('<fire prefix><job id>:<scheduled µs>') and its job's running set
-- ARGV[1] token: the caller's lease token
-- ARGV[2] retention: how long a claim is kept, ms
-- ARGV[3] node: the caller's node id
-- ARGV[4] term: the caller's fencing token
-- ARGV[5] claimed at: epoch seconds
-- ARGV[6] prefix length: of the fire prefix in the fire keys
-- ARGV[7] manual: '1' for operators' runs (they do not move the last-claimed time)
-- ARGV[8] marker ttl: how long a running marker lives unless renewed, ms
-- ARGV[9] run-id prefix: the caller process's (its own markers are counted by the caller)
-- ARGV[10] margin: the floor's margin, ms
-- ARGV[11..] per fire, three values: run id, max_instances (0: no check), instances this process runs now
-- Returns 'fenced' when the caller's lease is not the current one, else one letter per fire:
-- 'c' claimed by this run (now, or already: a retry whose first reply was lost), 'd' claimed by
-- another run, 'f' at or before the floor, 'e' further in Redis's future than the margin (the
-- caller's clock runs ahead; left unclaimed), 'b' max_instances runs of the job in progress.

if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 'fenced' end
local now_ms = redis_now_ms()
check_continuity(KEYS[4], KEYS[3], now_ms, ARGV[10], '')
local skip, mine = tonumber(ARGV[6]), ARGV[9]
local floor_us = tonumber(redis.call('HGET', KEYS[3], 'at') or '0') * 1000
local latest_us = (now_ms + tonumber(ARGV[10])) * 1000
local dead = {}
for _, prefix in ipairs(redis.call('SMEMBERS', KEYS[5])) do dead[prefix] = true end
local answers = {}
for i = 6, #KEYS, 2 do
  local a = 11 + (i - 6) / 2 * 3
  local run_id, most, here = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local job, micros = string.match(string.sub(KEYS[i], skip + 1), '^(.*):(%d+)$')
  local owner = redis.call('HGET', KEYS[i], 'run_id')
  local busy = false
  if not owner and most > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[i + 1], '-inf', now_ms)
    local others = 0
    for _, run in ipairs(redis.call('ZRANGE', KEYS[i + 1], 0, -1)) do
      local prefix = string.sub(run, 1, #mine)
      if prefix ~= mine and not dead[prefix] then others = others + 1 end
    end
    busy = others + here >= most
  end
  if owner then
    answers[#answers + 1] = owner == run_id and 'c' or 'd'
  elseif tonumber(micros) <= floor_us then
    answers[#answers + 1] = 'f'
  elseif tonumber(micros) > latest_us then
    answers[#answers + 1] = 'e'
  elseif busy then
    answers[#answers + 1] = 'b'
  else
    redis.call('HSET', KEYS[i], 'job_id', job, 'scheduled_us', micros, 'node', ARGV[3], 'term', ARGV[4],
               'run_id', run_id, 'claimed_at', ARGV[5], 'outcome', 'running')
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
    if most > 0 then
      redis.call('ZADD', KEYS[i + 1], now_ms + tonumber(ARGV[8]), run_id)
      redis.call('PEXPIRE', KEYS[i + 1], ARGV[8])
    end
    if ARGV[7] ~= '1' and tonumber(micros) > (tonumber(redis.call('HGET', KEYS[2], job) or '0') or 0) then
      redis.call('HSET', KEYS[2], job, micros)
    end
    answers[#answers + 1] = 'c'
  end
end
return table.concat(answers)
