#include "redis_session/session_store.hpp"

#include "redis_session/error.hpp"

namespace redis_session {

void ExpiryOptions::validate() const {
  constexpr auto year = std::chrono::milliseconds(std::chrono::hours(24 * 366));
  if (idle_timeout < std::chrono::milliseconds(1) || idle_timeout > year) {
    throw InvalidOptionsError("invalid store options: idle_timeout must be between 1 ms and a year");
  }
  if (absolute_lifetime && (*absolute_lifetime < std::chrono::milliseconds(1) || *absolute_lifetime > year)) {
    throw InvalidOptionsError("invalid store options: absolute_lifetime must be between 1 ms and a year");
  }
}

namespace detail {

bool is_store_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > 256) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              c == '.';
    if (!ok) return false;
  }
  return true;
}

void check_id(std::string_view id) {
  if (is_store_id(id)) return;
  if (id.empty() || id.size() > 256) {
    throw InvalidArgumentError("invalid session id: must be 1 to 256 characters (got " + std::to_string(id.size()) +
                              ")");
  }
  // The id itself is never echoed: it may be a live session's secret.
  throw InvalidArgumentError("invalid session id: characters other than [A-Za-z0-9_.-]");
}

void check_field(std::string_view field) {
  if (field.empty() || field.size() > 1024) {
    throw InvalidArgumentError("invalid session field name: must be 1 to 1024 bytes");
  }
  if (field.front() == '\0') {
    throw InvalidArgumentError("invalid session field name: a leading NUL byte is reserved for store metadata");
  }
}

}  // namespace detail
}  // namespace redis_session
