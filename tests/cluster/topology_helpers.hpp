#pragma once
// What the cluster and sentinel tests repeat: a store aimed at a test
// cluster or sentinel group, node replies asked again when
// a sentinel cuts the connection, and a SENTINEL FAILOVER timed.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "load.hpp"
#include "redis_session/error.hpp"
#include "redis_session/redis/topology.hpp"
#include "redis_session/redis_pool_store.hpp"
#include "support/redis_cluster.hpp"
#include "support/session_changes.hpp"

namespace redis_session::test {

// A store whose keys go under `ns`, with a pool of `connections` (open and
// idle) when given, the default one otherwise.
inline RedisPoolStoreOptions store_in(const std::string& ns, std::optional<int> connections) {
  RedisPoolStoreOptions options;
  options.key_namespace = ns;
  if (connections) {
    options.pool.max_open = *connections;
    options.pool.max_idle = *connections;
  }
  return options;
}

// A store for the cluster's seeds; as store_in otherwise.
inline RedisPoolStoreOptions cluster_store(const RedisCluster& cluster, const std::string& ns,
                                           std::optional<int> connections = std::nullopt) {
  RedisPoolStoreOptions options = store_in(ns, connections);
  options.cluster = redis::ClusterOptions{.seeds = cluster.seeds()};
  return options;
}

// A store that finds the group's master through its sentinels; as store_in
// otherwise.
inline RedisPoolStoreOptions sentinel_store(const SentinelGroup& group, const std::string& ns,
                                            std::optional<int> connections = std::nullopt) {
  RedisPoolStoreOptions options = store_in(ns, connections);
  options.sentinel = redis::SentinelOptions{.master_name = group.master_name(), .sentinels = group.sentinels()};
  return options;
}

// `ask()`, asked again when the connection is cut: a sentinel reconfiguring
// a node kills its clients.
template <class Ask>
redis::Reply asked_again(Ask ask) {
  for (int attempt = 0;; ++attempt) {
    try {
      return ask();
    } catch (const ConnectionError&) {
      if (attempt == 20) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

// A flat list of names and values (HGETALL) as a map.
inline std::map<std::string, std::string> as_map(const redis::Reply& r) {
  std::map<std::string, std::string> m;
  for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) m[r.elements[i].str] = r.elements[i + 1].str;
  return m;
}

// One SENTINEL FAILOVER away from `from`, and `after` more of whatever load
// runs meanwhile. `failure` is empty when it went as planned.
struct Failover {
  Clock::time_point sent{};
  Clock::time_point switched{};  // every sentinel names the new master
  std::string new_master;
  std::string failure;
};

inline Failover fail_over(SentinelGroup& group, const std::string& from,
                          std::chrono::milliseconds after = std::chrono::milliseconds(2000)) {
  Failover f;
  try {
    f.sent = Clock::now();
    group.failover();
    f.new_master = group.wait_failover(from);
    f.switched = Clock::now();
    std::this_thread::sleep_for(after);
  } catch (const std::exception& e) {
    f.failure = e.what();
  }
  return f;
}

}  // namespace redis_session::test
