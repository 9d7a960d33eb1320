#pragma once
// Building blocks for the traits structs that run the SessionStore
// conformance suite (store_conformance.hpp) on a Redis-backed store: the
// suite's server, and the options every such store shares.

#include <atomic>
#include <cstddef>
#include <string>

#include "redis_session/redis_pool_store.hpp"
#include "redis_session/session_store.hpp"

namespace redis_session::test {

inline constexpr std::size_t default_max_value_bytes = 1024 * 1024;

// One Server (a RedisServer, a RedisCluster) for the whole suite of a
// traits struct that derives from this: started before its first test,
// stopped after its last.
template <class Server>
struct SuiteServer {
  static inline Server* server = nullptr;
  static void set_up_suite() { server = new Server(); }
  static void tear_down_suite() {
    delete server;
    server = nullptr;
  }
};

// What every conformance store over Redis shares: a key namespace of its
// own (`prefix` and a number), so tests see only their own keys; the
// test's expiry and value limit; and a pool as wide as the widest test (16
// threads), so the tests measure the store, not pool waits. The caller
// adds where the server is.
inline RedisPoolStoreOptions conformance_options(const std::string& prefix, const ExpiryOptions& expiry,
                                                 std::size_t max_value_bytes) {
  static std::atomic<int> stores{0};
  RedisPoolStoreOptions options;
  options.key_namespace = prefix + std::to_string(stores++);
  options.expiry = expiry;
  options.max_value_bytes = max_value_bytes;
  options.pool.max_open = 16;
  options.pool.max_idle = 16;
  return options;
}

}  // namespace redis_session::test
