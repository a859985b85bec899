-- keep_running: renew (or write again, if Redis lost them) the running markers of runs going on.
-- KEYS[1..] per run, two keys: its job's running set and its fire's hash
-- ARGV[1] marker ttl: ms
-- ARGV[2..] per run: its run id
-- A run whose fire already carries its outcome has ended: its marker is left out. The calls
-- are atomic, so either this one renews and finish then drops the marker, or finish wrote the
-- outcome and this one leaves it out. Returns 1.

local t = redis.call('TIME')
local until_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
for i = 1, #KEYS, 2 do
  local run_id = ARGV[(i + 1) / 2 + 1]
  local fire = redis.call('HMGET', KEYS[i + 1], 'run_id', 'outcome')
  local ended = fire[1] == run_id and fire[2] and fire[2] ~= 'running'
  if not ended then
    redis.call('ZADD', KEYS[i], until_ms, run_id)
    redis.call('PEXPIRE', KEYS[i], ARGV[1])
  end
end
return 1
