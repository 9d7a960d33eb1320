// Validation of ClusterOptions and SentinelOptions, once, when a store is made.

#include <string>
#include <vector>

#include "redis_session/error.hpp"
#include "redis_session/redis/topology.hpp"

namespace redis_session::redis {
namespace {

void check_nodes(const std::vector<std::string>& nodes, const char* what) {
  if (nodes.empty()) throw InvalidOptionsError(std::string("invalid topology options: ") + what + " is empty");
  for (const std::string& node : nodes) parse_host_port(node);
}

}  // namespace

void ClusterOptions::validate() const {
  check_nodes(seeds, "cluster.seeds");
  auto bad = [](const std::string& why) { throw InvalidOptionsError("invalid cluster options: " + why); };
  if (max_redirects < 1 || max_redirects > 100) bad("max_redirects must be 1 to 100");
  if (retry_window < std::chrono::milliseconds::zero()) bad("retry_window is negative");
  if (retry_backoff <= std::chrono::milliseconds::zero()) bad("retry_backoff must be positive");
}

void SentinelOptions::validate() const {
  auto bad = [](const std::string& why) { throw InvalidOptionsError("invalid sentinel options: " + why); };
  if (master_name.empty() || master_name.size() > 256) bad("master_name must be 1 to 256 bytes");
  for (char c : master_name) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) bad("master_name has whitespace or control characters");
  }
  check_nodes(sentinels, "sentinel.sentinels");
  if (!username.empty() && password.empty()) bad("username given without a password");
  if (sentinel_timeout <= std::chrono::milliseconds::zero()) bad("sentinel_timeout must be positive");
  if (watch_interval < std::chrono::milliseconds(10)) bad("watch_interval must be at least 10 ms");
  if (promotion_fence < std::chrono::milliseconds::zero()) bad("promotion_fence is negative");
  if (retry_window < std::chrono::milliseconds::zero()) bad("retry_window is negative");
  if (retry_backoff <= std::chrono::milliseconds::zero()) bad("retry_backoff must be positive");
}

}  // namespace redis_session::redis
