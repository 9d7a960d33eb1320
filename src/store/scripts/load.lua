-- Used only with an absolute lifetime; without one, load is HGETALL + PEXPIRE.
local h = redis.call('HGETALL', key)
if #h == 0 then return h end
local alive = slide(key)
if type(alive) == 'table' then return alive end
if not alive then return {} end
return h
