-- continuity: a library the lease and claim scripts include (no KEYS or ARGV of its own).
-- Redis's run id changes whenever the server restarts or another one takes over (a Sentinel
-- failover); the data it now serves may then be older than what the cluster acted on (a
-- snapshot reload, the last second of an AOF, an unacknowledged replication). The server key
-- remembers the run id the data was written under. On a change, or when the caller says Redis
-- lost its data, the floor moves to now + a margin that covers how far ahead any leader's clock
-- may have run (the largest margin any node passed, kept in the floor hash): no fire at or
-- before it is claimed again, since none of those can be proven unrun. A server key or floor
-- that is not what the kit writes is replaced, and counts as such a reason.
-- check_continuity(server_key, floor_key, now_ms, margin_ms, reason) returns the reason, ''
-- when all is well, or '?' when INFO is refused (then restarts cannot be noticed).

local function redis_now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function number_or_nil(value)
  if value and string.match(value, '^%d+%.?%d*$') and #value <= 20 then return tonumber(value) end
  return nil
end
local function replaced(key, what)
  local found = redis.call('TYPE', key).ok
  redis.call('DEL', key)
  return 'Redis key ' .. key .. ' held a ' .. found .. ', not ' .. what .. ' (the kit replaced it)'
end
local function check_continuity(server_key, floor_key, now_ms, margin_ms, reason)
  -- Three reads when all is well (INFO, GET, HMGET): a leader runs this on claims and on some renewals.
  local info = redis.pcall('INFO', 'server')
  local run_id = type(info) == 'string' and string.match(info, 'run_id:(%x+)') or ''
  local bad = ''
  local known = redis.pcall('GET', server_key)
  if type(known) == 'table' then bad = replaced(server_key, 'a run id'); known = false end
  local floor = redis.pcall('HMGET', floor_key, 'at', 'margin')
  if floor.err then
    if bad == '' then bad = replaced(floor_key, 'a floor') else redis.call('DEL', floor_key) end
    floor = {false, false}
  end
  local at = floor[1]
  if bad == '' and at and not number_or_nil(at) then
    bad = "the floor " .. floor_key .. " held '" .. string.sub(at, 1, 40) .. "', not a time (the kit replaced it)"
    redis.call('HDEL', floor_key, 'at')
    at = false
  end
  if bad ~= '' then reason = reason == '' and bad or (reason .. '; ' .. bad) end
  if run_id == '' and reason == '' then return '?' end
  if run_id ~= '' and known and known ~= run_id and reason == '' then
    reason = 'Redis restarted or failed over (its run id changed)'
  end
  if run_id ~= '' and known ~= run_id then redis.call('SET', server_key, run_id) end
  local margin = tonumber(margin_ms)
  local widest = number_or_nil(floor[2] or '0') or 0
  if margin > widest then redis.call('HSET', floor_key, 'margin', margin) else margin = widest end
  if reason ~= '' then
    local new_floor = now_ms + margin
    if new_floor > (number_or_nil(at or '0') or 0) then
      redis.call('HSET', floor_key, 'at', new_floor, 'reason', reason)
    end
  end
  return reason
end
