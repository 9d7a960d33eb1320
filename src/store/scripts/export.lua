-- Regenerate between two cluster slots, first step: the old hash's fields
-- (metadata included), and from now on the old session takes no writes: it
-- is marked as moving ("\0m"), so a save or increment racing the move
-- reports gone instead of being acknowledged and then lost with the old key.
-- Returns 'GONE' if there is no such session or it is already moving.
if redis.call('EXISTS', key) == 0 then return 'GONE' end
local bad, moving = check(key)
if bad then return bad end
if moving then return 'GONE' end
local h = redis.call('HGETALL', key)
redis.call('HSET', key, '\0m', '1')
return h
