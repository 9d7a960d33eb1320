#include "store_options.hpp"

#include "redis_session/error.hpp"

namespace redis_session::detail {

namespace {

void apply_topology_url(RedisPoolStoreOptions& o) {
  if (o.url.empty() || !redis::is_topology_url(o.url)) return;
  if (o.cluster || o.sentinel) {
    throw InvalidOptionsError(
        "invalid RedisPoolStore options: a cluster or sentinel url and the cluster/sentinel "
        "options are exclusive");
  }
  redis::TopologyUrl t = redis::parse_topology_url(o.url);
  o.connection.username = t.connection.username;
  o.connection.password = t.connection.password;
  o.connection.db = t.connection.db;
  o.connection.tls.enabled = t.connection.tls.enabled;
  o.cluster = std::move(t.cluster);
  o.sentinel = std::move(t.sentinel);
  o.url.clear();
}

void validate(const RedisPoolStoreOptions& o) {
  auto bad = [](const std::string& why) { throw InvalidOptionsError("invalid RedisPoolStore options: " + why); };
  if (o.key_namespace.empty() || o.key_namespace.size() > 256) bad("key_namespace must be 1 to 256 bytes");
  for (char c : o.key_namespace) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) bad("key_namespace has whitespace or control characters");
  }
  o.expiry.validate();
  if (!o.codec.serialize || !o.codec.deserialize) bad("codec needs both serialize and deserialize");
  for (const Codec& c : o.fallback_codecs) {
    if (!c.deserialize) bad("fallback codec '" + c.name + "' has no deserialize");
  }
  if (o.max_value_bytes == 0) bad("max_value_bytes must be positive");
  if (o.cluster && o.sentinel) bad("cluster and sentinel are exclusive");
  if ((o.cluster || o.sentinel) && o.shared_pool) bad("shared_pool is for one server, not a cluster or sentinels");
  if ((o.cluster || o.sentinel) && !o.url.empty()) bad("url is for one server; cluster and sentinel have their own");
  if (o.cluster) {
    o.cluster->validate();
    if (o.connection.db != 0) bad("Redis Cluster has only db 0");
  }
  if (o.sentinel) o.sentinel->validate();
}

// `connection` with what the url says; validated.
redis::ConnectionOptions connection_options(const RedisPoolStoreOptions& o) {
  redis::ConnectionOptions c = o.connection;
  if (o.cluster || o.sentinel) c.unix_path.clear();  // every node's address comes from the topology
  if (!o.url.empty()) {
    redis::ConnectionOptions u = redis::parse_url(o.url);
    c.host = u.host;
    c.port = u.port;
    c.unix_path = u.unix_path;
    c.username = u.username;
    c.password = u.password;
    c.db = u.db;
    c.tls.enabled = u.tls.enabled;
  }
  c.validate();
  return c;
}

}  // namespace

void prepare_store_options(RedisPoolStoreOptions& options) {
  apply_topology_url(options);
  validate(options);
}

RouterConfig router_config(const RedisPoolStoreOptions& o) {
  return {connection_options(o), o.cluster, o.sentinel, o.pool, o.shared_pool};
}

}  // namespace redis_session::detail
