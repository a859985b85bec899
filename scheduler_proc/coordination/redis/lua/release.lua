-- release: give the lease up, only if it still holds the caller's token, and tell the
-- standbys (who otherwise sleep until the lease's TTL runs out).
-- KEYS[1] leader: the lease
-- KEYS[2] handover: the pub/sub channel standbys listen on
-- ARGV[1] token: the caller's lease token
-- Returns 1 if deleted, 0 if not the caller's.

if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', KEYS[2], ARGV[1])
  return 1
end
return 0
