// parse_url on arbitrary text: a ConnectionOptions or InvalidOptionsError.
// The endpoint and every validation message must not depend on the password:
// they are compared with those of the same options with the password replaced
// by filler of the same length (a substring test would trip over passwords
// that happen to occur in the host or port).
#include <cstddef>
#include <cstdint>
#include <string>

#include "redis_session/error.hpp"
#include "redis_session/redis/options.hpp"
#include "redis_session/redis/topology.hpp"

namespace {

std::string validation_message(const redis_session::redis::ConnectionOptions& o) {
  try {
    o.validate();
  } catch (const redis_session::InvalidOptionsError& e) {
    return e.what();
  }
  return {};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string url(reinterpret_cast<const char*>(data), size);
  // Cluster and sentinel URLs: accepted ones name valid nodes.
  try {
    redis_session::redis::TopologyUrl t = redis_session::redis::parse_topology_url(url);
    if (t.cluster) t.cluster->validate();
    if (t.sentinel) t.sentinel->validate();
  } catch (const redis_session::InvalidOptionsError&) {
  }
  redis_session::redis::ConnectionOptions o;
  try {
    o = redis_session::redis::parse_url(url);
  } catch (const redis_session::InvalidOptionsError&) {
    return 0;  // rejected; the unit tests check those messages for passwords
  }
  redis_session::redis::ConnectionOptions masked = o;
  masked.password.assign(o.password.size(), '\x01');
  if (o.endpoint() != masked.endpoint()) __builtin_trap();
  if (validation_message(o) != validation_message(masked)) __builtin_trap();
  return 0;
}
