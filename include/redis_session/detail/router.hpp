#pragma once
// How RedisPoolStore finds the Redis node for a key. Internal.
//
// Three topologies: one server (a fixed node), a Sentinel-watched primary
// (one node whose address follows failovers) and a Redis Cluster (a slot map
// of primaries, one pool each, learnt from CLUSTER SHARDS). The store asks
// for the node of a key's slot, runs its call there, and tells the router
// what it saw: a redirection, a node it could not reach, a READONLY primary.
// Retrying is the store's business; the router only knows where to go.
//
// Thread safety: every member function may be called concurrently.
// Lifetime: nodes (and their pools) handed out stay valid while held, even
// after the map forgets them.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "redis_session/connection_pool.hpp"
#include "redis_session/detail/slot_map.hpp"
#include "redis_session/redis/topology.hpp"

namespace redis_session::detail {

struct Node {
  std::string endpoint;  // "host:port", as Redis names the node
  std::shared_ptr<ConnectionPool> pool;
};

class Router {
 public:
  virtual ~Router() = default;

  // The node that serves `slot` now. Throws ConnectError when none is known
  // (the map could not be learnt, or a cluster slot has no owner).
  virtual std::shared_ptr<Node> node_for(std::uint16_t slot) = 0;
  // A MOVED (moved = true: the map is stale) or ASK redirection of `slot` to
  // "host:port". Cluster only; others throw ProtocolError.
  virtual std::shared_ptr<Node> redirected(std::uint16_t slot, std::string_view endpoint, bool moved);
  // The topology may have changed (a node unreachable, READONLY, a failover):
  // learn it again. Never throws; when it fails the old map stays and the
  // caller's next attempt reports the failure.
  virtual void refresh() noexcept {}
  // Every primary, for SCAN.
  virtual std::vector<std::shared_ptr<Node>> primaries() = 0;

  // How long calls retry while the topology moves (0: never, one server).
  std::chrono::milliseconds retry_window{0};
  std::chrono::milliseconds retry_backoff{20};
  int max_redirects = 0;
  bool is_cluster = false;
};

// What a router is made from: the store's options that say where Redis is.
// `connection` has been validated and already carries what the URL said; at
// most one of cluster, sentinel and shared_pool is set.
struct RouterConfig {
  redis::ConnectionOptions connection;
  std::optional<redis::ClusterOptions> cluster;
  std::optional<redis::SentinelOptions> sentinel;
  PoolOptions pool;
  std::shared_ptr<ConnectionPool> shared_pool;
};

std::unique_ptr<Router> make_router(const RouterConfig& config);

}  // namespace redis_session::detail
