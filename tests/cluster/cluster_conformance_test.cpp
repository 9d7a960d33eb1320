// The whole SessionStore conformance suite (tests/integration/
// store_conformance.hpp) on a RedisPoolStore whose sessions are sharded over
// a 3-primary Redis Cluster: the contract does not change with the topology.
// count / ids / clear must visit every primary; regenerate mostly moves a
// session between slots owned by different primaries.

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>

#include "redis_session/session_store.hpp"
#include "topology_helpers.hpp"

namespace redis_session {
namespace {

constexpr std::size_t default_max_value_bytes = 1024 * 1024;

// One cluster per test program (ctest runs each test as its own program, so
// per test); each store gets a namespace of its own.
struct RedisClusterStoreTraits {
  static constexpr const char* name = "redis_cluster";
  static inline test::RedisCluster* cluster = nullptr;
  static void set_up_suite() { cluster = new test::RedisCluster(); }
  static void tear_down_suite() {
    delete cluster;
    cluster = nullptr;
  }
  static std::unique_ptr<SessionStore> make(const ExpiryOptions& expiry,
                                            std::size_t max_value_bytes = default_max_value_bytes) {
    static std::atomic<int> stores{0};
    RedisPoolStoreOptions options = test::cluster_store(*cluster, "conformance_cluster" + std::to_string(stores++), 16);
    options.expiry = expiry;
    options.max_value_bytes = max_value_bytes;
    return std::make_unique<RedisPoolStore>(options);
  }
};

using StoreTypes = ::testing::Types<RedisClusterStoreTraits>;

}  // namespace
}  // namespace redis_session

#include "integration/store_conformance.hpp"
// And the session layer on the same stores, in both load modes.
#include "integration/manager_conformance.hpp"
