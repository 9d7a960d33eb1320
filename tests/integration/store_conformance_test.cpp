// The SessionStore conformance suite: the contract of session_store.hpp as
// tests that every store implementation must pass unchanged.
//
// Adding a store: write a traits struct like MemoryStoreTraits (name,
// set_up_suite / tear_down_suite for a server it needs, make() returning a
// store that sees no other store's sessions) and add it to StoreTypes. The
// tests use only the SessionStore interface, create each store through
// TypeParam::make and give every session a fresh id, so they hold for any
// store that keeps the contract. The tests live in store_conformance.hpp,
// so other programs run them on other stores (tests/cluster/ on a Redis
// Cluster) with their own StoreTypes.

#include <gtest/gtest.h>

#include <cstddef>
#include <memory>
#include <string>

#include "integration/conformance_traits.hpp"
#include "redis_session/memory_store.hpp"
#include "redis_session/redis_pool_store.hpp"
#include "redis_session/session_store.hpp"
#include "support/redis_server.hpp"

namespace redis_session {
namespace {

using test::conformance_options;
using test::default_max_value_bytes;

struct MemoryStoreTraits {
  static constexpr const char* name = "memory";
  static void set_up_suite() {}
  static void tear_down_suite() {}
  static std::unique_ptr<SessionStore> make(const ExpiryOptions& expiry,
                                            std::size_t max_value_bytes = default_max_value_bytes) {
    MemoryStoreOptions options;
    options.expiry = expiry;
    options.max_value_bytes = max_value_bytes;
    return std::make_unique<MemoryStore>(options);
  }
};

// One redis-server for the suite, a namespace per store.
template <class CodecOf>
struct RedisPoolStoreTraitsOf : test::SuiteServer<test::RedisServer> {
  static std::unique_ptr<SessionStore> make(const ExpiryOptions& expiry,
                                            std::size_t max_value_bytes = default_max_value_bytes) {
    RedisPoolStoreOptions options =
        conformance_options(std::string("conformance") + CodecOf::name(), expiry, max_value_bytes);
    options.url = server->url();
    options.codec = CodecOf::codec();
    return std::make_unique<RedisPoolStore>(options);
  }
};

struct JsonCodecOf {
  static const char* name() { return "json"; }
  static Codec codec() { return json_codec(); }
};
struct MsgpackCodecOf {
  static const char* name() { return "msgpack"; }
  static Codec codec() { return msgpack_codec(); }
};

struct RedisPoolStoreTraits : RedisPoolStoreTraitsOf<JsonCodecOf> {
  static constexpr const char* name = "redis";
};
struct RedisPoolStoreMsgpackTraits : RedisPoolStoreTraitsOf<MsgpackCodecOf> {
  static constexpr const char* name = "redis_msgpack";
};

using StoreTypes = ::testing::Types<MemoryStoreTraits, RedisPoolStoreTraits, RedisPoolStoreMsgpackTraits>;

}  // namespace
}  // namespace redis_session

// The tests themselves, run on StoreTypes.
#include "integration/store_conformance.hpp"
// And the session layer on the same stores, in both load modes.
#include "integration/manager_conformance.hpp"
