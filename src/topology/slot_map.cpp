// Where a key lives in a Redis Cluster: its hash slot (key_slot) and the
// primary that serves the slot (the map read from CLUSTER SHARDS / SLOTS).

#include "redis_session/detail/slot_map.hpp"

#include <array>
#include <functional>
#include <map>
#include <string>

#include "redis_session/redis/topology.hpp"

namespace redis_session {
namespace redis {
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

}  // namespace

std::uint16_t key_slot(std::string_view key) noexcept {
  // Only the part between the first '{' and the next '}' is hashed, when it
  // is not empty: "{user1}.a" and "{user1}.b" share a slot.
  if (auto open = key.find('{'); open != std::string_view::npos) {
    if (auto close = key.find('}', open + 1); close != std::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  return static_cast<std::uint16_t>(crc16(key) & (detail::slot_count - 1));
}

}  // namespace redis

namespace detail {

using redis::Reply;

std::string endpoint_of(std::string_view host, std::uint16_t port) {
  std::string out = host.find(':') != std::string_view::npos ? "[" + std::string(host) + "]" : std::string(host);
  return out + ":" + std::to_string(port);
}

// CLUSTER SHARDS (Redis 7): per shard, "slots" [first, last, ...] and
// "nodes", each a flat list of name/value pairs. A shard may list more than
// one node with role "master": after a failover, newer servers keep the
// failed old primary in its shard (health "fail") beside the promoted one.
// The healthiest master serves the shard: "online", then any other state
// ("loading"), then "fail".
bool parse_shards(const Reply& r, bool tls, std::vector<SlotRange>& out) {
  if (!r.is_array()) return false;
  auto rank = [](const std::string& health) { return health == "online" ? 0 : health == "fail" ? 2 : 1; };
  for (const Reply& shard : r.elements) {
    if (!shard.is_array()) return false;
    const Reply* slots = nullptr;
    const Reply* nodes = nullptr;
    for (std::size_t i = 0; i + 1 < shard.elements.size(); i += 2) {
      if (shard.elements[i].str == "slots") slots = &shard.elements[i + 1];
      if (shard.elements[i].str == "nodes") nodes = &shard.elements[i + 1];
    }
    if (!slots || !nodes) return false;
    std::string endpoint;
    int best = 3;
    for (const Reply& node : nodes->elements) {
      std::map<std::string, const Reply*, std::less<>> field;
      for (std::size_t i = 0; i + 1 < node.elements.size(); i += 2) field[node.elements[i].str] = &node.elements[i + 1];
      auto role = field.find("role");
      if (role == field.end() || role->second->str != "master") continue;
      auto ip = field.find("ip");
      auto port = field.find(tls && field.count("tls-port") ? "tls-port" : "port");
      if (ip == field.end() || port == field.end() || !port->second->is_integer()) return false;
      auto health = field.find("health");
      const int score = health == field.end() ? 0 : rank(health->second->str);
      if (score >= best) continue;
      best = score;
      endpoint = endpoint_of(ip->second->str, static_cast<std::uint16_t>(port->second->integer));
    }
    if (endpoint.empty()) continue;  // a shard whose master is gone: its slots have no owner for now
    for (std::size_t i = 0; i + 1 < slots->elements.size(); i += 2) {
      out.push_back({slots->elements[i].integer, slots->elements[i + 1].integer, endpoint});
    }
  }
  return true;
}

// CLUSTER SLOTS: [first, last, [ip, port, id...], replicas...].
bool parse_slots(const Reply& r, const std::string& asked_host, std::vector<SlotRange>& out) {
  if (!r.is_array()) return false;
  for (const Reply& range : r.elements) {
    if (!range.is_array() || range.elements.size() < 3 || !range.elements[2].is_array() ||
        range.elements[2].elements.size() < 2) {
      return false;
    }
    const Reply& master = range.elements[2];
    // An empty host means "the one you asked" (cluster-preferred-endpoint-type unknown-endpoint).
    std::string host = master.elements[0].str.empty() ? asked_host : master.elements[0].str;
    out.push_back({range.elements[0].integer, range.elements[1].integer,
                   endpoint_of(host, static_cast<std::uint16_t>(master.elements[1].integer))});
  }
  return true;
}

bool is_valid(const SlotRange& range) noexcept {
  return range.first >= 0 && range.last < static_cast<long long>(slot_count) && range.first <= range.last;
}

}  // namespace detail
}  // namespace redis_session
