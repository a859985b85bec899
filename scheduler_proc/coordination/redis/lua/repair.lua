-- repair: delete the keys that hold another type than the kit writes there (it cannot be
-- the kit's: it only ever writes each key with its one type).
-- KEYS[1..] the keys
-- ARGV[1..] per key, the type it should have
-- Returns the types found, one per key.

local found = {}
for i = 1, #KEYS do
  local kind = redis.call('TYPE', KEYS[i]).ok
  found[i] = kind
  if kind ~= 'none' and kind ~= ARGV[i] then redis.call('DEL', KEYS[i]) end
end
return found
