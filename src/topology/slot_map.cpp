#include "redis_session/redis/topology.hpp"

#include <array>
#include <string>

#include "redis_session/error.hpp"

namespace redis_session::redis {
namespace {

// CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), the variant
// Redis Cluster hashes keys with.
constexpr std::array<std::uint16_t, 256> crc16_table() {
  std::array<std::uint16_t, 256> table{};
  for (unsigned i = 0; i < 256; ++i) {
    unsigned crc = i << 8;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1;
    table[i] = static_cast<std::uint16_t>(crc);
  }
  return table;
}

constexpr auto crc16_lookup = crc16_table();

std::uint16_t crc16(std::string_view bytes) noexcept {
  std::uint16_t crc = 0;
  for (char c : bytes) {
    crc = static_cast<std::uint16_t>((crc << 8) ^ crc16_lookup[((crc >> 8) ^ static_cast<unsigned char>(c)) & 0xff]);
  }
  return crc;
}

void check_nodes(const std::vector<std::string>& nodes, const char* what) {
  if (nodes.empty()) throw InvalidOptionsError(std::string("invalid topology options: ") + what + " is empty");
  for (const std::string& node : nodes) parse_host_port(node);
}

}  // namespace

std::uint16_t key_slot(std::string_view key) noexcept {
  // Only the part between the first '{' and the next '}' is hashed, when it
  // is not empty: "{user1}.a" and "{user1}.b" share a slot.
  if (auto open = key.find('{'); open != std::string_view::npos) {
    if (auto close = key.find('}', open + 1); close != std::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  return static_cast<std::uint16_t>(crc16(key) & 16383);
}

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
