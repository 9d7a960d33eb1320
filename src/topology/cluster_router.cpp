// A Redis Cluster: one pool per primary, and the slot map (slot_map.cpp)
// that says which primary serves which slot.

#include <algorithm>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <utility>

#include "redis_session/error.hpp"
#include "routers.hpp"

namespace redis_session::detail {
namespace {

using redis::Connection;
using redis::ConnectionOptions;
using redis::Reply;
using Clock = std::chrono::steady_clock;

// The map is learnt from CLUSTER SHARDS (CLUSTER SLOTS on older servers) of
// the first node that answers: known primaries first, then the seeds.
class ClusterRouter final : public Router {
 public:
  ClusterRouter(ConnectionOptions base, redis::ClusterOptions cluster, PoolOptions pool)
      : base_(std::move(base)), cluster_(std::move(cluster)), pool_options_(std::move(pool)), slots_(slot_count) {
    retry_window = cluster_.retry_window;
    retry_backoff = cluster_.retry_backoff;
    max_redirects = cluster_.max_redirects;
    is_cluster = true;
  }

  ~ClusterRouter() override {
    std::lock_guard lock(nodes_mutex_);
    for (auto& [endpoint, node] : nodes_) node->pool->close();
  }

  std::shared_ptr<Node> node_for(std::uint16_t slot) override {
    {
      std::shared_lock lock(map_mutex_);
      if (slots_[slot]) return slots_[slot];
    }
    refresh();
    std::shared_lock lock(map_mutex_);
    if (slots_[slot]) return slots_[slot];
    lock.unlock();
    std::string why;
    {
      std::lock_guard refreshing(refresh_mutex_);
      why = last_error_;
    }
    throw ConnectError("no node of the cluster serves slot " + std::to_string(slot) +
                       (why.empty() ? std::string() : " (" + why + ")"));
  }

  std::shared_ptr<Node> redirected(std::uint16_t slot, std::string_view endpoint, bool moved) override {
    std::shared_ptr<Node> node = node_at(std::string(endpoint));
    if (moved) {
      {
        std::unique_lock lock(map_mutex_);
        slots_[slot] = node;
      }
      // A MOVED rarely comes alone (resharding moves ranges, failover moves
      // every slot of a node): learn the whole map, at most every 100 ms.
      refresh_if_older(std::chrono::milliseconds(100));
    }
    return node;
  }

  void refresh() noexcept override { refresh_if_older(std::chrono::milliseconds(10)); }

  std::vector<std::shared_ptr<Node>> primaries() override {
    std::vector<std::shared_ptr<Node>> out = primaries_snapshot();
    if (out.empty()) {
      node_for(0);  // learn the map, or throw why not
      return primaries();
    }
    return out;
  }

 private:
  // Concurrent callers wait for the one refresh in progress and use its map.
  void refresh_if_older(std::chrono::milliseconds age) noexcept {
    Clock::time_point asked = Clock::now();
    std::lock_guard refreshing(refresh_mutex_);
    if (last_refresh_ != Clock::time_point() && last_refresh_ + age > asked) return;
    try {
      std::vector<std::string> candidates;
      for (const auto& node : primaries_snapshot()) candidates.push_back(node->endpoint);
      for (const std::string& seed : cluster_.seeds) {
        if (std::find(candidates.begin(), candidates.end(), seed) == candidates.end()) candidates.push_back(seed);
      }
      for (const std::string& endpoint : candidates) {
        std::vector<SlotRange> ranges;
        if (!fetch(endpoint, ranges)) continue;
        install(ranges);
        last_refresh_ = Clock::now();
        last_error_.clear();
        return;
      }
    } catch (const std::exception& e) {
      last_error_ = e.what();
    }
    last_refresh_ = Clock::now();
  }

  // Each primary of the map once, in slot order.
  std::vector<std::shared_ptr<Node>> primaries_snapshot() {
    std::shared_lock lock(map_mutex_);
    std::vector<std::shared_ptr<Node>> out;
    for (const auto& node : slots_) {
      if (node && std::find(out.begin(), out.end(), node) == out.end()) out.push_back(node);
    }
    return out;
  }

  // One node's view of the map, on a connection of its own (the pools may be
  // exhausted by the very calls waiting for this map).
  bool fetch(const std::string& endpoint, std::vector<SlotRange>& ranges) {
    try {
      ConnectionOptions options = options_at(base_, endpoint);
      Connection connection(options);
      Reply shards = connection.execute(redis::Request{"CLUSTER", "SHARDS"})[0];
      if (!shards.is_error()) return parse_shards(shards, base_.tls.enabled, ranges) && !ranges.empty();
      Reply slots = connection.execute(redis::Request{"CLUSTER", "SLOTS"})[0];
      if (slots.is_error()) {
        last_error_ = endpoint + ": " + slots.str;
        return false;
      }
      return parse_slots(slots, options.host, ranges) && !ranges.empty();
    } catch (const Error& e) {
      last_error_ = e.what();
      return false;
    }
  }

  void install(const std::vector<SlotRange>& ranges) {
    std::vector<std::shared_ptr<Node>> map(slot_count);
    for (const SlotRange& range : ranges) {
      if (!is_valid(range)) continue;
      std::shared_ptr<Node> node = node_at(range.endpoint);
      for (long long s = range.first; s <= range.last; ++s) map[static_cast<std::size_t>(s)] = node;
    }
    std::unique_lock lock(map_mutex_);
    slots_.swap(map);
  }

  std::shared_ptr<Node> node_at(const std::string& endpoint) {
    std::lock_guard lock(nodes_mutex_);
    auto it = nodes_.find(endpoint);
    if (it != nodes_.end()) return it->second;
    auto node =
        std::make_shared<Node>(Node{endpoint, make_connection_pool(options_at(base_, endpoint), pool_options_)});
    nodes_.emplace(endpoint, node);
    return node;
  }

  const ConnectionOptions base_;
  const redis::ClusterOptions cluster_;
  const PoolOptions pool_options_;

  std::shared_mutex map_mutex_;
  std::vector<std::shared_ptr<Node>> slots_;  // under map_mutex_

  std::mutex nodes_mutex_;
  std::map<std::string, std::shared_ptr<Node>> nodes_;  // every node ever used; under nodes_mutex_

  std::mutex refresh_mutex_;
  Clock::time_point last_refresh_;  // under refresh_mutex_
  std::string last_error_;          // under refresh_mutex_
};

}  // namespace

std::unique_ptr<Router> make_cluster_router(ConnectionOptions base, redis::ClusterOptions cluster, PoolOptions pool) {
  return std::make_unique<ClusterRouter>(std::move(base), std::move(cluster), std::move(pool));
}

}  // namespace redis_session::detail
