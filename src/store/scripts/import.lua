-- Regenerate between two cluster slots, second step: the old hash's fields
-- (metadata included) under the new key, if it is free. ARGV: idle,
-- absolute, field/value pairs.
if redis.call('EXISTS', key) == 1 then return 'EXISTS' end
in_batches('HSET', 3, #ARGV)
local alive = slide(key)
if type(alive) == 'table' then return alive end
if not alive then return 'GONE' end
return 'OK'
