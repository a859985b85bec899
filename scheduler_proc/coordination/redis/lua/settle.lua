-- settle: move jobs' last claims forward to a floor (they only ever move forward).
-- KEYS[1] last: hash job id -> last scheduled claim (µs)
-- ARGV[1] µs: the new last claim
-- ARGV[2..] job ids
-- Returns 1.

for i = 2, #ARGV do
  if (tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0') or 0) < tonumber(ARGV[1]) then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[1])
  end
end
return 1
