-- Every script starts with this prelude. Times come from the server (TIME),
-- so app servers with skewed clocks agree. The creation time is the hash
-- field "\0c" (milliseconds since the epoch). slide() sets the key's TTL to
-- min(idle, created + absolute - now), deleting the session when its
-- absolute deadline has passed; ARGV[1] and ARGV[2] are always idle and
-- absolute milliseconds (absolute 0: none). Redis does not roll a script
-- back, so a script that writes first calls check(), which finds what would
-- make slide() fail (another type, no creation time) before anything is
-- written: a failed operation writes nothing. Its second result says the
-- session is being moved to another cluster slot (field "\0m", see
-- export.lua): such a session takes no more writes, they report gone.
--
-- Whole-line comments like these are stripped when the scripts are embedded
-- (src/store/scripts/embed.cmake), so Redis gets the code only.
local key = KEYS[1]
local idle = tonumber(ARGV[1])
local absolute = tonumber(ARGV[2])
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function slide(k)
  local ttl = idle
  if absolute > 0 then
    local created = tonumber(redis.call('HGET', k, '\0c'))
    if created == nil then
      return redis.error_reply('RSMETA session hash has no creation time')
    end
    local left = created + absolute - now_ms()
    if left <= 0 then redis.call('DEL', k) return false end
    if left < ttl then ttl = left end
  end
  redis.call('PEXPIRE', k, ttl)
  return true
end
local function check(k)
  local t = redis.call('TYPE', k)['ok']
  if t == 'none' then return nil, false end
  if t ~= 'hash' then
    return redis.error_reply('WRONGTYPE Operation against a key holding the wrong kind of value'), false
  end
  if absolute > 0 and tonumber(redis.call('HGET', k, '\0c')) == nil then
    return redis.error_reply('RSMETA session hash has no creation time'), false
  end
  return nil, redis.call('HGET', k, '\0m') ~= false
end
-- Runs `command` key ARGV[first..last], a thousand arguments at a time, so
-- that unpack() stays within Lua's stack limit.
local function in_batches(command, first, last)
  local i = first
  while i <= last do
    local j = math.min(i + 999, last)
    redis.call(command, key, unpack(ARGV, i, j))
    i = j + 1
  end
end
