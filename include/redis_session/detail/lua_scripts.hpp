#pragma once
// RedisPoolStore's Lua scripts (src/store/scripts/*.lua, embedded at build
// time). Internal, but visible so that the benchmark's raw-hiredis baseline
// can send byte-identical requests.
//
// Every script takes KEYS[1] = the session key (regenerate: KEYS[2] = the new
// key) and ARGV[1] = idle ms, ARGV[2] = absolute lifetime ms (0: none);
// ScriptArgs builds that layout, so no call site counts positions.

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace redis_session::detail {

struct LuaScript {
  const char* name;
  std::string source;
  std::string sha;  // lower-case hex SHA1 of source, as EVALSHA wants it
};

enum class Script : std::uint8_t {
  save,         // ARGV[3] 'c'+token|'u', ARGV[4] n, n field/value pairs, erased fields
  increment,    // ARGV[3] field, ARGV[4] by, ARGV[5] '1' to create
  regenerate,   // KEYS[2] new key
  load,         // only with an absolute lifetime
  touch,        // only with an absolute lifetime
  export_hash,  // marks the session as moving, returns its hash (cluster regenerate)
  import_hash,  // ARGV[3..] field/value pairs of a whole hash (cluster regenerate)
};
inline constexpr std::size_t script_count = 7;

const LuaScript& script(Script which);

// The argv of one script call: [EVALSHA|EVAL, sha|source, numkeys, keys...,
// idle_ms, absolute_ms, extra...]. Views only: the strings must outlive it.
//
// Thread safety: a value type; one per call.
class ScriptArgs {
 public:
  // One or two keys (the scripts take no more).
  ScriptArgs(std::initializer_list<std::string_view> keys, std::string_view idle_ms, std::string_view absolute_ms,
             std::size_t extra = 0) {
    static constexpr std::string_view numkeys[] = {"0", "1", "2"};
    assert(keys.size() == 1 || keys.size() == 2);
    argv_.reserve(5 + keys.size() + extra);
    argv_.insert(argv_.end(), {std::string_view(), std::string_view(), numkeys[keys.size()]});
    argv_.insert(argv_.end(), keys.begin(), keys.end());
    argv_.insert(argv_.end(), {idle_ms, absolute_ms});
  }

  ScriptArgs& add(std::string_view arg) {
    argv_.push_back(arg);
    return *this;
  }
  // A temporary string would be gone before the call is sent.
  template <class T, std::enable_if_t<std::is_same_v<T, std::string>, int> = 0>
  ScriptArgs& add(T&& temporary) = delete;

  // The argv that runs `script` by its SHA (EVALSHA) or, `by_source`, by its text (EVAL).
  const std::vector<std::string_view>& command(const LuaScript& script, bool by_source) {
    argv_[0] = by_source ? "EVAL" : "EVALSHA";
    argv_[1] = by_source ? std::string_view(script.source) : std::string_view(script.sha);
    return argv_;
  }

 private:
  std::vector<std::string_view> argv_;
};

}  // namespace redis_session::detail
