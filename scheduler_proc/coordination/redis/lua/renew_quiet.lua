-- renew_quiet: the renewals between two full ones (3 commands: an idle leader stays quiet).
-- KEYS[1] leader: the lease
-- ARGV[1] token: the caller's lease token
-- ARGV[2] ttl: lease TTL, ms
-- Returns 1 if renewed, else 0.

if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
