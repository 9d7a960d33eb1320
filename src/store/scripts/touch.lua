-- Used only with an absolute lifetime; without one, touch is PEXPIRE.
if redis.call('EXISTS', key) == 0 then return 0 end
local alive = slide(key)
if type(alive) == 'table' then return alive end
if not alive then return 0 end
return 1
