-- bury: for a runner proven dead, release its lease as release does and mark the process
-- dead, so its running markers stop counting against max_instances.
-- KEYS[1] leader: the lease
-- KEYS[2] handover: the pub/sub channel standbys listen on
-- KEYS[3] dead: set of the run-id prefixes of processes proven dead
-- ARGV[1] token: the dead holder's lease token ('' if none)
-- ARGV[2] prefix: its run-id prefix
-- ARGV[3] ttl: how long its running markers could still live, ms
-- Returns 1 if it released the lease.

redis.call('SADD', KEYS[3], ARGV[2])
redis.call('PEXPIRE', KEYS[3], ARGV[3])
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', KEYS[2], ARGV[1])
  return 1
end
return 0
