#include "redis_session/connection_pool.hpp"

#include <utility>

namespace redis_session {

// The one instantiation that connection_pool.hpp's extern declarations refer to.
template class PoolLease<redis::Connection>;
template class Pool<redis::Connection>;
template class detail::PoolState<redis::Connection>;

std::shared_ptr<ConnectionPool> make_connection_pool(const redis::ConnectionOptions& connection, PoolOptions pool) {
  connection.validate();
  PoolHooks<redis::Connection> hooks;
  hooks.create = [connection] { return std::make_unique<redis::Connection>(connection); };
  hooks.validate = [](redis::Connection& c) { return c.ping(); };
  hooks.is_broken = [](const redis::Connection& c) { return c.broken(); };
  return std::make_shared<ConnectionPool>(std::move(hooks), std::move(pool));
}

}  // namespace redis_session
