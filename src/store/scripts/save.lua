-- ARGV: idle, absolute, mode ('c' + a token of this call, or 'u'), nset,
-- nset field/value pairs, erase fields. A create stores its token as "\0w":
-- the same create sent again after its reply was lost finds its own token
-- and answers OK; any other create of a taken id answers EXISTS.
local exists = redis.call('EXISTS', key)
if string.sub(ARGV[3], 1, 1) == 'c' then
  local token = string.sub(ARGV[3], 2)
  if exists == 1 then
    if redis.call('TYPE', key)['ok'] == 'hash' and redis.call('HGET', key, '\0w') == token then
      return 'OK'
    end
    return 'EXISTS'
  end
  redis.call('HSET', key, '\0c', now_ms(), '\0w', token)
elseif exists == 0 then
  return 'GONE'
else
  local bad, moving = check(key)
  if bad then return bad end
  if moving then return 'GONE' end
end
local last_set = 4 + 2 * tonumber(ARGV[4])
in_batches('HSET', 5, last_set)
in_batches('HDEL', last_set + 1, #ARGV)
local alive = slide(key)
if type(alive) == 'table' then return alive end
if not alive then return 'GONE' end
return 'OK'
