-- KEYS: old, new. ARGV: idle, absolute.
if redis.call('EXISTS', KEYS[2]) == 1 then return 'EXISTS' end
if redis.call('EXISTS', key) == 0 then return 'GONE' end
local bad, moving = check(key)
if bad then return bad end
if moving then return 'GONE' end
redis.call('RENAME', key, KEYS[2])
local alive = slide(KEYS[2])
if type(alive) == 'table' then return alive end
if not alive then return 'GONE' end
return 'OK'
