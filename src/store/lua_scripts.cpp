// The Lua scripts RedisPoolStore runs, and their SHA1s for EVALSHA.

#include "redis_session/detail/lua_scripts.hpp"

#include <openssl/evp.h>

#include <cstdio>
#include <new>

namespace redis_session::detail {


// Times come from the server (TIME), so app servers with skewed clocks agree.
// The creation time is the hash field "\0c" (milliseconds since the epoch).
// slide() sets the key's TTL to min(idle, created + absolute - now), deleting
// the session when its absolute deadline has passed; ARGV[1] and ARGV[2] are
// always idle and absolute milliseconds (absolute 0: none). Redis does not
// roll a script back, so a script that writes first calls check(), which
// finds what would make slide() fail (another type, no creation time) before
// anything is written: a failed operation writes nothing. Its second result
// says the session is being moved to another cluster slot (field "\0m", see
// export_script()): such a session takes no more writes, they report gone.
#define REDIS_SESSION_LUA_PRELUDE                                                      \
  "local key = KEYS[1]\n"                                                              \
  "local idle = tonumber(ARGV[1])\n"                                                   \
  "local absolute = tonumber(ARGV[2])\n"                                               \
  "local function now_ms()\n"                                                          \
  "  local t = redis.call('TIME')\n"                                                   \
  "  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"               \
  "end\n"                                                                              \
  "local function slide(k)\n"                                                          \
  "  local ttl = idle\n"                                                               \
  "  if absolute > 0 then\n"                                                           \
  "    local created = tonumber(redis.call('HGET', k, '\\0c'))\n"                      \
  "    if created == nil then\n"                                                       \
  "      return redis.error_reply('RSMETA session hash has no creation time')\n"       \
  "    end\n"                                                                          \
  "    local left = created + absolute - now_ms()\n"                                   \
  "    if left <= 0 then redis.call('DEL', k) return false end\n"                      \
  "    if left < ttl then ttl = left end\n"                                            \
  "  end\n"                                                                            \
  "  redis.call('PEXPIRE', k, ttl)\n"                                                  \
  "  return true\n"                                                                    \
  "end\n"                                                                              \
  "local function check(k)\n"                                                         \
  "  local t = redis.call('TYPE', k)['ok']\n"                                         \
  "  if t == 'none' then return nil, false end\n"                                     \
  "  if t ~= 'hash' then\n"                                                           \
  "    return redis.error_reply('WRONGTYPE Operation against a key holding the wrong kind of value'), false\n" \
  "  end\n"                                                                           \
  "  if absolute > 0 and tonumber(redis.call('HGET', k, '\\0c')) == nil then\n"       \
  "    return redis.error_reply('RSMETA session hash has no creation time'), false\n" \
  "  end\n"                                                                           \
  "  return nil, redis.call('HGET', k, '\\0m') ~= false\n"                           \
  "end\n"

namespace {

std::string sha1_hex(const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(text.data(), text.size(), digest, &len, EVP_sha1(), nullptr) != 1) throw std::bad_alloc();
  std::string hex;
  char buf[3];
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", digest[i]);
    hex += buf;
  }
  return hex;
}

LuaScript make_script(const char* name, std::string source) {
  std::string sha = sha1_hex(source);
  return {name, std::move(source), std::move(sha)};
}

}  // namespace

// A slide() result that is an error reply must reach the caller as one.
#define REDIS_SESSION_LUA_SLIDE(k, on_dead)                 \
  "local alive = slide(" k ")\n"                            \
  "if type(alive) == 'table' then return alive end\n"       \
  "if not alive then return " on_dead " end\n"

// ARGV: idle, absolute, mode ('c' + a token of this call, or 'u'), nset,
// nset field/value pairs, erase fields. A create stores its token as "\0w":
// the same create sent again after its reply was lost finds its own token
// and answers OK; any other create of a taken id answers EXISTS.
const LuaScript& save_script() {
  static const LuaScript s = make_script("save", REDIS_SESSION_LUA_PRELUDE
      "local exists = redis.call('EXISTS', key)\n"
      "if string.sub(ARGV[3], 1, 1) == 'c' then\n"
      "  local token = string.sub(ARGV[3], 2)\n"
      "  if exists == 1 then\n"
      "    if redis.call('TYPE', key)['ok'] == 'hash' and redis.call('HGET', key, '\\0w') == token then\n"
      "      return 'OK'\n"
      "    end\n"
      "    return 'EXISTS'\n"
      "  end\n"
      "  redis.call('HSET', key, '\\0c', now_ms(), '\\0w', token)\n"
      "elseif exists == 0 then\n"
      "  return 'GONE'\n"
      "else\n"
      "  local bad, moving = check(key)\n"
      "  if bad then return bad end\n"
      "  if moving then return 'GONE' end\n"
      "end\n"
      "local nset = tonumber(ARGV[4])\n"
      "local first, last = 5, 4 + 2 * nset\n"
      "local i = first\n"
      "while i <= last do\n"  // batches keep unpack() within Lua's stack limit
      "  local j = math.min(i + 999, last)\n"
      "  redis.call('HSET', key, unpack(ARGV, i, j))\n"
      "  i = j + 1\n"
      "end\n"
      "i = last + 1\n"
      "while i <= #ARGV do\n"
      "  local j = math.min(i + 999, #ARGV)\n"
      "  redis.call('HDEL', key, unpack(ARGV, i, j))\n"
      "  i = j + 1\n"
      "end\n"
      REDIS_SESSION_LUA_SLIDE("key", "'GONE'")
      "return 'OK'\n");
  return s;
}

// ARGV: idle, absolute, field, by, create ('1' or '0').
const LuaScript& increment_script() {
  static const LuaScript s = make_script("increment", REDIS_SESSION_LUA_PRELUDE
      "local bad, moving = check(key)\n"
      "if bad then return bad end\n"
      "if moving then return false end\n"
      "if redis.call('EXISTS', key) == 0 then\n"
      "  if ARGV[5] ~= '1' then return false end\n"
      "  redis.call('HSET', key, '\\0c', now_ms())\n"
      "end\n"
      "redis.call('HINCRBY', key, ARGV[3], ARGV[4])\n"
      REDIS_SESSION_LUA_SLIDE("key", "false")
      // Lua numbers are doubles: HINCRBY's reply near 2^63 would come back
      // rounded. The field's text is exact.
      "return redis.call('HGET', key, ARGV[3])\n");
  return s;
}

// KEYS: old, new. ARGV: idle, absolute.
const LuaScript& regenerate_script() {
  static const LuaScript s = make_script("regenerate", REDIS_SESSION_LUA_PRELUDE
      "if redis.call('EXISTS', KEYS[2]) == 1 then return 'EXISTS' end\n"
      "if redis.call('EXISTS', key) == 0 then return 'GONE' end\n"
      "local bad, moving = check(key)\n"
      "if bad then return bad end\n"
      "if moving then return 'GONE' end\n"
      "redis.call('RENAME', key, KEYS[2])\n"
      REDIS_SESSION_LUA_SLIDE("KEYS[2]", "'GONE'")
      "return 'OK'\n");
  return s;
}

// Used only with an absolute lifetime; without one, load is HGETALL + PEXPIRE.
const LuaScript& load_script() {
  static const LuaScript s = make_script("load", REDIS_SESSION_LUA_PRELUDE
      "local h = redis.call('HGETALL', key)\n"
      "if #h == 0 then return h end\n"
      REDIS_SESSION_LUA_SLIDE("key", "{}")
      "return h\n");
  return s;
}

// Used only with an absolute lifetime; without one, touch is PEXPIRE.
const LuaScript& touch_script() {
  static const LuaScript s = make_script("touch", REDIS_SESSION_LUA_PRELUDE
      "if redis.call('EXISTS', key) == 0 then return 0 end\n"
      REDIS_SESSION_LUA_SLIDE("key", "0")
      "return 1\n");
  return s;
}

// Regenerate between two cluster slots, first step: the old hash's fields
// (metadata included), and from now on the old session takes no writes: it
// is marked as moving ("\0m"), so a save or increment racing the move
// reports gone instead of being acknowledged and then lost with the old key.
// Returns 'GONE' if there is no such session or it is already moving.
const LuaScript& export_script() {
  static const LuaScript s = make_script("export", REDIS_SESSION_LUA_PRELUDE
      "if redis.call('EXISTS', key) == 0 then return 'GONE' end\n"
      "local bad, moving = check(key)\n"
      "if bad then return bad end\n"
      "if moving then return 'GONE' end\n"
      "local h = redis.call('HGETALL', key)\n"
      "redis.call('HSET', key, '\\0m', '1')\n"
      "return h\n");
  return s;
}

// Regenerate between two cluster slots, second step: the old hash's fields
// (metadata included) under the new key, if it is free. ARGV: idle, absolute,
// field/value pairs.
const LuaScript& import_script() {
  static const LuaScript s = make_script("import", REDIS_SESSION_LUA_PRELUDE
      "if redis.call('EXISTS', key) == 1 then return 'EXISTS' end\n"
      "local i = 3\n"
      "while i <= #ARGV do\n"
      "  local j = math.min(i + 999, #ARGV)\n"
      "  redis.call('HSET', key, unpack(ARGV, i, j))\n"
      "  i = j + 1\n"
      "end\n"
      REDIS_SESSION_LUA_SLIDE("key", "'GONE'")
      "return 'OK'\n");
  return s;
}

}  // namespace redis_session::detail
