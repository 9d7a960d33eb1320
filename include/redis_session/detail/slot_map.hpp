#pragma once
// The Redis Cluster slot map as data: which primary ("host:port") serves
// which slots, read from a CLUSTER SHARDS or CLUSTER SLOTS reply. Pure
// functions of a reply, so they are tested without a server; ClusterRouter
// turns the ranges into pools. Internal.
//
// Thread safety: free functions on values.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "redis_session/redis/reply.hpp"

namespace redis_session::detail {

inline constexpr std::size_t slot_count = 16384;

// "host:port", with brackets around an IPv6 host.
std::string endpoint_of(std::string_view host, std::uint16_t port);

// Slots first..last, served by the primary at `endpoint` ("host:port").
struct SlotRange {
  long long first;
  long long last;
  std::string endpoint;
};

// The slot map from a CLUSTER SHARDS reply (Redis 7), appended to `out`;
// the TLS port where `tls` and the node has one. False when the reply has
// another shape.
bool parse_shards(const redis::Reply& r, bool tls, std::vector<SlotRange>& out);

// The slot map from a CLUSTER SLOTS reply (before Redis 7), appended to
// `out`. `asked_host` stands in for an empty host ("the node you asked").
// False when the reply has another shape.
bool parse_slots(const redis::Reply& r, const std::string& asked_host, std::vector<SlotRange>& out);

// Whether a range names real slots (first <= last, both in 0..16383): the
// ranges that are not are skipped when the map is installed.
bool is_valid(const SlotRange& range) noexcept;

}  // namespace redis_session::detail
