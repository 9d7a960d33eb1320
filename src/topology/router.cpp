// The Router interface's defaults and the choice of router; the routers
// themselves are standalone_router.cpp, sentinel_router.cpp and
// cluster_router.cpp.

#include "redis_session/detail/router.hpp"

#include <utility>

#include "redis_session/error.hpp"
#include "routers.hpp"

namespace redis_session::detail {

std::shared_ptr<Node> Router::redirected(std::uint16_t, std::string_view endpoint, bool) {
  throw ProtocolError("redirection to " + std::string(endpoint) + " from a server that is not in a cluster");
}

redis::ConnectionOptions options_at(const redis::ConnectionOptions& base, const std::string& endpoint) {
  redis::ConnectionOptions o = base;
  auto [host, port] = redis::parse_host_port(endpoint);
  o.host = std::move(host);
  o.port = port;
  o.unix_path.clear();
  return o;
}

std::unique_ptr<Router> make_router(const RouterConfig& c) {
  if (c.cluster) return make_cluster_router(c.connection, *c.cluster, c.pool);
  if (c.sentinel) return make_sentinel_router(c.connection, *c.sentinel, c.pool);
  return make_standalone_router(c.shared_pool ? c.shared_pool : make_connection_pool(c.connection, c.pool));
}

}  // namespace redis_session::detail
