#pragma once
// One decoded RESP2 reply. A plain value type: it owns its bytes and can
// outlive the connection that read it.
//
// Thread safety: a value type; distinct objects may be used concurrently.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace redis_session::redis {

struct Reply {
  enum class Type : std::uint8_t { string, array, integer, nil, status, error };

  Type type = Type::nil;
  std::string str;               // string, status and error replies
  long long integer = 0;         // integer replies
  std::vector<Reply> elements;   // array replies

  bool is_nil() const noexcept { return type == Type::nil; }
  bool is_error() const noexcept { return type == Type::error; }
  bool is_string() const noexcept { return type == Type::string; }
  bool is_integer() const noexcept { return type == Type::integer; }
  bool is_array() const noexcept { return type == Type::array; }
  bool is_status(std::string_view s) const noexcept { return type == Type::status && str == s; }
};

const char* to_string(Reply::Type type) noexcept;

}  // namespace redis_session::redis
