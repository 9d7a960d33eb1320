#pragma once
// Test support for the fault-injection tests: a throwaway redis-server with a
// FaultProxy in front of it, and options that reach the server through the
// proxy. Every scenario that breaks the network starts from these.
//
// Thread safety: as FaultProxy for `proxy` (any thread); `server` from one.

#include <chrono>
#include <optional>

#include "redis_session/redis/options.hpp"
#include "redis_session/redis_pool_store.hpp"
#include "support/fault_proxy.hpp"
#include "support/redis_server.hpp"

namespace redis_session::test {

// TCP to the proxy on 127.0.0.1; both deadlines (connect and command) set to
// `timeout` when given, else the library's defaults.
inline redis::ConnectionOptions connection_via(const FaultProxy& proxy,
                                               std::optional<std::chrono::milliseconds> timeout = {}) {
  redis::ConnectionOptions o;
  o.host = "127.0.0.1";
  o.port = proxy.port();
  if (timeout) {
    o.connect_timeout = *timeout;
    o.command_timeout = *timeout;
  }
  return o;
}

// A store whose connections go through the proxy (connection_via), with the
// default pool.
inline RedisPoolStoreOptions store_via(const FaultProxy& proxy, std::optional<std::chrono::milliseconds> timeout = {}) {
  RedisPoolStoreOptions o;
  o.connection = connection_via(proxy, timeout);
  return o;
}

struct ProxiedRedis {
  RedisServer server;
  FaultProxy proxy{server.port()};
};

}  // namespace redis_session::test
