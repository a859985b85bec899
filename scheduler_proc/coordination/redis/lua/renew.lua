-- renew: the full renewal, which also reads Redis's time and checks continuity.
-- uses: continuity
-- KEYS[1] leader: the lease
-- KEYS[2] server: the run id the data was written under
-- KEYS[3] floor: the floor hash
-- ARGV[1] token: the caller's lease token
-- ARGV[2] ttl: lease TTL, ms
-- ARGV[3] margin: the floor's margin, ms
-- Returns {1 if renewed else 0, Redis time ms, discontinuity ('' or a reason, '?' without INFO)}.

local now_ms = redis_now_ms()
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {0, now_ms, ''} end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, now_ms, check_continuity(KEYS[2], KEYS[3], now_ms, ARGV[3], '')}
