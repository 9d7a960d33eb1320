-- ARGV: idle, absolute, field, by, create ('1' or '0').
local bad, moving = check(key)
if bad then return bad end
if moving then return false end
if redis.call('EXISTS', key) == 0 then
  if ARGV[5] ~= '1' then return false end
  redis.call('HSET', key, '\0c', now_ms())
end
redis.call('HINCRBY', key, ARGV[3], ARGV[4])
local alive = slide(key)
if type(alive) == 'table' then return alive end
if not alive then return false end
-- Lua numbers are doubles: HINCRBY's reply near 2^63 would come back
-- rounded. The field's text is exact.
return redis.call('HGET', key, ARGV[3])
