#pragma once
// Replies built by hand, for the topology tests that parse what a server
// would say without one.

#include <string>
#include <utility>
#include <vector>

#include "redis_session/redis/reply.hpp"

namespace redis_session::test {

inline redis::Reply text(std::string s) {
  redis::Reply r;
  r.type = redis::Reply::Type::string;
  r.str = std::move(s);
  return r;
}

inline redis::Reply number(long long n) {
  redis::Reply r;
  r.type = redis::Reply::Type::integer;
  r.integer = n;
  return r;
}

inline redis::Reply list(std::vector<redis::Reply> elements) {
  redis::Reply r;
  r.type = redis::Reply::Type::array;
  r.elements = std::move(elements);
  return r;
}

inline redis::Reply nil() {
  return redis::Reply{};
}

// A flat list of names and values, as Sentinel and CLUSTER SHARDS answer.
inline redis::Reply fields(const std::vector<std::pair<std::string, std::string>>& pairs) {
  std::vector<redis::Reply> out;
  for (const auto& [name, value] : pairs) {
    out.push_back(text(name));
    out.push_back(text(value));
  }
  return list(std::move(out));
}

}  // namespace redis_session::test
