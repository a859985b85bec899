-- acquire: take the lease if nobody holds it; else say who does and for how long.
-- uses: continuity
-- KEYS[1] leader: the lease, a string token 'term:nonce:node' with a TTL
-- KEYS[2] fence: the term counter
-- KEYS[3] server: the run id of the Redis server the data was written under
-- KEYS[4] floor: hash (at, margin, reason): no fire at or before 'at' is claimed again
-- ARGV[1] nonce: a fresh random string for the token
-- ARGV[2] node: the caller's node id
-- ARGV[3] ttl: lease TTL, ms
-- ARGV[4] lowest term: one above the highest term any process of the caller's host has seen
-- ARGV[5] margin: the floor's margin, ms (2 x SCHEDULER_MAX_CLOCK_OFFSET)
-- Returns {1, term, token, Redis time ms, discontinuity ('' or why earlier claims may be gone)}
-- when the caller now leads; {0, holder token, pttl ms, Redis time ms} when another does.
-- A holder that is no lease token (any other value or type) is made to expire within the TTL;
-- a term counter that is not a whole number below MAX_TERM is replaced as if Redis lost it.

local now_ms = redis_now_ms()
local holder = redis.pcall('GET', KEYS[1])  -- an error for a key of another type
if holder then
  if type(holder) == 'table' then holder = 'a ' .. redis.call('TYPE', KEYS[1]).ok end
  local term = string.match(holder, '^(%d+):[^:]+:.+$')
  if not term or #term > 16 or tonumber(term) > MAX_TERM then
    local pttl = redis.call('PTTL', KEYS[1])
    if pttl < 0 or pttl > tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
  end
  return {0, holder, redis.call('PTTL', KEYS[1]), now_ms}
end
local lost = ''
local fence_kind = redis.call('TYPE', KEYS[2]).ok
local counter = fence_kind == 'string' and redis.call('GET', KEYS[2]) or ('a ' .. fence_kind)
local counted = string.match(counter, '^%d+$') and #counter <= 16 and tonumber(counter) < MAX_TERM
if fence_kind ~= 'none' and not counted then
  redis.call('DEL', KEYS[2])
  lost = "the term counter " .. KEYS[2] .. " held '" .. string.sub(counter, 1, 40)
    .. "', not a term (the kit replaced it, above every term seen)"
end
local term = redis.call('INCR', KEYS[2])
if term == 1 and lost == '' then
  lost = 'no term counter in Redis (a first start of this namespace, or Redis lost its data)'
elseif term < tonumber(ARGV[4]) then
  lost = 'Redis lost its data (its term counter was behind terms seen before)'
end
local reason = check_continuity(KEYS[3], KEYS[4], now_ms, ARGV[5], lost)
if reason ~= '' and reason ~= '?' then
  -- Continuity is in doubt (no counter, a counter behind, a restart or failover): increments
  -- that some node saw may be lost, and that node alone remembers them. Redis's time in
  -- milliseconds is above any term such a counter reached (it counted from an earlier time,
  -- one term per lease), so no number is handed out twice.
  term = math.max(term, tonumber(ARGV[4]), now_ms)
  redis.call('SET', KEYS[2], string.format('%.0f', term))
elseif term < tonumber(ARGV[4]) then
  term = tonumber(ARGV[4])
  redis.call('SET', KEYS[2], string.format('%.0f', term))
end
local token = string.format('%.0f', term) .. ':' .. ARGV[1] .. ':' .. ARGV[2]
redis.call('SET', KEYS[1], token, 'PX', ARGV[3])
return {1, term, token, now_ms, reason}
