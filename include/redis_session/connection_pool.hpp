#pragma once
// The pool of Redis connections that RedisPoolStore (and its routers) lease
// from: the generic Pool of pool.hpp over redis::Connection, with the hooks
// that make a connection, PING it and tell that it broke.
//
// Thread safety: as Pool. Lifetime: a shared pool outlives every store that
// holds it.

#include <memory>

#include "redis_session/pool.hpp"
#include "redis_session/redis/connection.hpp"
#include "redis_session/redis/options.hpp"

namespace redis_session {

using ConnectionPool = Pool<redis::Connection>;

// Instantiated once, in src/redis/connection_pool.cpp: a file that uses a
// store then compiles and links no copy of its own of the pool's slow paths
// and reaper. The inline hot paths are still inlined where they are called.
extern template class PoolLease<redis::Connection>;
extern template class Pool<redis::Connection>;
namespace detail {
extern template class PoolState<redis::Connection>;
}  // namespace detail

// A pool of Redis connections, for several stores to share. Validates
// `connection` (InvalidOptionsError); connections open lazily.
std::shared_ptr<ConnectionPool> make_connection_pool(const redis::ConnectionOptions& connection, PoolOptions pool = {});

}  // namespace redis_session
