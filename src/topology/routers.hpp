#pragma once
// The three routers behind make_router, one file each. Private to src/topology.

#include <memory>
#include <string>

#include "redis_session/detail/router.hpp"

namespace redis_session::detail {

std::unique_ptr<Router> make_standalone_router(std::shared_ptr<ConnectionPool> pool);
std::unique_ptr<Router> make_sentinel_router(redis::ConnectionOptions base, redis::SentinelOptions sentinel,
                                             PoolOptions pool);
std::unique_ptr<Router> make_cluster_router(redis::ConnectionOptions base, redis::ClusterOptions cluster,
                                            PoolOptions pool);

// `base` (credentials, TLS, timeouts) aimed at the node at "host:port".
redis::ConnectionOptions options_at(const redis::ConnectionOptions& base, const std::string& endpoint);

}  // namespace redis_session::detail
