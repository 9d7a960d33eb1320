#pragma once
// RedisPoolStoreOptions made ready for a router: a topology URL turned into
// the cluster/sentinel options, the URL merged into the connection options,
// and everything validated once. Internal to src/store.

#include "redis_session/detail/router.hpp"
#include "redis_session/redis_pool_store.hpp"

namespace redis_session::detail {

// Moves what a redis+cluster:// or redis+sentinel:// url says into
// options.cluster / options.sentinel and clears the url, then validates all
// of `options`. Throws InvalidOptionsError.
void prepare_store_options(RedisPoolStoreOptions& options);

// Where the prepared options say Redis is, for make_router().
RouterConfig router_config(const RedisPoolStoreOptions& options);

}  // namespace redis_session::detail
