// The Lua scripts RedisPoolStore runs, and their SHA1s for EVALSHA. The texts
// are src/store/scripts/*.lua, written into a generated source at build time.

#include "redis_session/detail/lua_scripts.hpp"

#include <openssl/evp.h>

#include <array>
#include <cstdio>
#include <new>
#include <utility>

namespace redis_session::detail {

namespace embedded_lua {
extern const char prelude_lua[];
extern const char save_lua[];
extern const char increment_lua[];
extern const char regenerate_lua[];
extern const char load_lua[];
extern const char touch_lua[];
extern const char export_lua[];
extern const char import_lua[];
}  // namespace embedded_lua

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

// Every script is the prelude (key, expiry helpers) followed by its own body.
LuaScript make_script(const char* name, const char* body) {
  std::string source = std::string(embedded_lua::prelude_lua) + body;
  std::string sha = sha1_hex(source);
  return {name, std::move(source), std::move(sha)};
}

}  // namespace

const LuaScript& script(Script which) {
  using namespace embedded_lua;
  // In the order of Script.
  static constexpr std::pair<const char*, const char*> bodies[script_count] = {
      {"save", save_lua},   {"increment", increment_lua}, {"regenerate", regenerate_lua}, {"load", load_lua},
      {"touch", touch_lua}, {"export", export_lua},       {"import", import_lua}};
  static const std::array<LuaScript, script_count> all = [] {
    std::array<LuaScript, script_count> scripts;
    for (std::size_t i = 0; i < script_count; ++i) scripts[i] = make_script(bodies[i].first, bodies[i].second);
    return scripts;
  }();
  return all[static_cast<std::size_t>(which)];
}

}  // namespace redis_session::detail
