#pragma once
// RedisPoolStore's Lua scripts. Internal, but visible so that the benchmark's
// raw-hiredis baseline can send byte-identical requests.
//
// Every script takes KEYS[1] = the session key (regenerate: KEYS[2] = the new
// key) and ARGV[1] = idle ms, ARGV[2] = absolute lifetime ms (0: none).

#include <string>

namespace redis_session::detail {

struct LuaScript {
  const char* name;
  std::string source;
  std::string sha;  // lower-case hex SHA1 of source, as EVALSHA wants it
};

const LuaScript& save_script();        // ARGV[3] 'c'+token|'u', ARGV[4] n, n field/value pairs, erased fields
const LuaScript& increment_script();   // ARGV[3] field, ARGV[4] by, ARGV[5] '1' to create
const LuaScript& regenerate_script();  // KEYS[2] new key
const LuaScript& load_script();        // only with an absolute lifetime
const LuaScript& touch_script();       // only with an absolute lifetime
const LuaScript& export_script();      // marks the session as moving, returns its hash (cluster regenerate)
const LuaScript& import_script();      // ARGV[3..] field/value pairs of a whole hash (cluster regenerate)

}  // namespace redis_session::detail
