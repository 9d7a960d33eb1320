#pragma once
// The arithmetic of SessionStore::increment on a value held in process
// memory, shared by MemoryStore and by Session (for a field the request has
// changed but not committed), so both refuse the same values the same way.

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "redis_session/error.hpp"

namespace redis_session::detail {

// current + by. SessionStateError naming the field (never its value) when
// `current` is not an integer in 64-bit signed range, or the sum overflows.
inline long long checked_increment(const nlohmann::json& current, long long by, std::string_view field) {
  auto refuse = [&](const char* why) {
    throw SessionStateError("cannot increment session field '" + std::string(field) + "': " + why);
  };
  long long start = 0;
  if (current.is_number_unsigned()) {
    const auto u = current.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<long long>::max())) {
      refuse("it holds an integer beyond 64-bit signed range");
    }
    start = static_cast<long long>(u);
  } else if (current.is_number_integer()) {
    start = current.get<long long>();
  } else {
    refuse("it does not hold an integer");
  }
  long long result = 0;
  if (__builtin_add_overflow(start, by, &result)) refuse("the result would overflow a 64-bit integer");
  return result;
}

}  // namespace redis_session::detail
