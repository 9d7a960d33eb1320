#pragma once
// The production SessionStore: one Redis hash per session at
// "<namespace>:<id>", one hash field per session field, on a bounded pool of
// connections. Every operation is one round trip: a Lua script (EVALSHA,
// falling back to EVAL after a restart empties the script cache) where
// atomicity needs one (save, increment, regenerate, and load/touch when an
// absolute lifetime is set), otherwise a pipeline of plain commands, which
// costs Redis a fraction of the CPU.
//
// Values: integers are stored as decimal text (so HINCRBY works on them),
// everything else through the codec. Store metadata (the creation time) lives
// in fields whose names start with a NUL byte, which user field names may not.
//
// Retries: load, save, touch, exists and destroy are retried once when a
// connection that had worked before fails before any byte of its reply
// (typically a socket the server closed while it sat idle); the idle
// connections of the pool are dropped first so the retry gets a fresh one.
// increment and regenerate are never retried that way.
//
// Cluster and Sentinel (options.cluster / options.sentinel): a call follows
// MOVED (and learns the slot map again) and ASK (ASKING, then the call once
// on the importing node), at most cluster.max_redirects hops. While the
// topology moves (TRYAGAIN, CLUSTERDOWN, READONLY, MASTERDOWN, LOADING,
// NOREPLICAS, or a node that cannot be reached) a call is tried again with
// backoff for at most retry_window, after which its last error is thrown. A call that may already
// have been applied is tried again only when it is idempotent: increment and
// regenerate are repeated only when nothing was sent. A session is one key,
// so it lives in one slot; regenerate between two slots writes the new key
// first, then deletes the old one, after which a save to the old id reports
// gone.
//
// Thread safety: all member functions may be called concurrently.
// Lifetime: a shared pool outlives the store as long as anyone holds it.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "redis_session/codec.hpp"
#include "redis_session/connection_pool.hpp"
#include "redis_session/redis/options.hpp"
#include "redis_session/redis/topology.hpp"
#include "redis_session/session_store.hpp"

namespace redis_session {

namespace detail {
class CallEngine;
class Router;
class ScriptArgs;
}  // namespace detail

struct RedisPoolStoreOptions {
  // Where Redis is. When `url` is set it replaces host, port, unix_path,
  // username, password, db and tls.enabled of `connection`; the rest
  // (timeouts, TLS files, client name) still comes from `connection`.
  redis::ConnectionOptions connection;
  std::string url;
  // Redis Cluster or Sentinel instead of one server (see redis/topology.hpp;
  // a redis+cluster:// or redis+sentinel:// `url` fills these). Credentials,
  // TLS and timeouts for every data node come from `connection`. A cluster
  // gets one pool per primary, each with the `pool` options.
  std::optional<redis::ClusterOptions> cluster;
  std::optional<redis::SentinelOptions> sentinel;
  PoolOptions pool;
  // A ready pool to use instead of building one from connection/url/pool
  // (the seed's POOL option): several stores may share one pool.
  std::shared_ptr<ConnectionPool> shared_pool;

  // Keys are "<key_namespace>:<id>". 1 to 256 bytes, no whitespace or control
  // characters. Glob characters are allowed (they are escaped for SCAN).
  std::string key_namespace = "session";
  ExpiryOptions expiry;
  Codec codec = json_codec();
  // Tried in order when `codec` cannot decode a stored value, so a deployment
  // can switch formats without logging everyone out. Writes use `codec`.
  std::vector<Codec> fallback_codecs;
  // A save with an encoded value larger than this throws ValueTooLargeError
  // and writes nothing.
  std::size_t max_value_bytes = 1024 * 1024;
};

class RedisPoolStore final : public SessionStore {
 public:
  // Validates everything, builds the pool (connections open lazily). Throws
  // InvalidOptionsError.
  explicit RedisPoolStore(RedisPoolStoreOptions options);
  ~RedisPoolStore() override;
  RedisPoolStore(const RedisPoolStore&) = delete;
  RedisPoolStore& operator=(const RedisPoolStore&) = delete;

  std::optional<Fields> load(std::string_view id) override;
  SaveResult save(std::string_view id, const SessionChanges& changes) override;
  std::optional<long long> increment(std::string_view id, std::string_view field, long long by,
                                     bool create) override;
  bool destroy(std::string_view id) override;
  bool touch(std::string_view id) override;
  bool exists(std::string_view id) override;
  RegenerateResult regenerate(std::string_view old_id, std::string_view new_id) override;
  std::size_t count() override;
  void for_each_id(const std::function<void(std::string_view)>& f) override;
  std::size_t clear() override;

  // The pool of a one-server or Sentinel store. A cluster store has one pool
  // per primary (pools()); for it these throw InvalidOptionsError.
  ConnectionPool& pool();
  const std::shared_ptr<ConnectionPool>& shared_pool() const;
  // Every pool the store uses now: one, or one per cluster primary.
  std::vector<std::shared_ptr<ConnectionPool>> pools();
  const RedisPoolStoreOptions& options() const noexcept { return options_; }
  // Round trips to Redis made by this store since construction.
  std::uint64_t round_trips() const noexcept { return round_trips_.load(std::memory_order_relaxed); }

 private:
  RegenerateResult regenerate_across_slots(const std::string& old_key, const std::string& new_key);
  std::string key(std::string_view id) const;
  // The arguments every script takes: its keys, then idle and absolute ms.
  detail::ScriptArgs script_args(std::initializer_list<std::string_view> keys, std::size_t extra = 0) const;
  Fields decode(std::string_view key, std::vector<redis::Reply>& flat) const;
  template <class F>
  void scan(F&& page);

  RedisPoolStoreOptions options_;
  std::unique_ptr<detail::Router> router_;
  std::unique_ptr<detail::CallEngine> engine_;
  std::shared_ptr<ConnectionPool> single_pool_;  // null for a cluster
  std::string idle_ms_;
  std::string absolute_ms_;  // "0": none
  std::atomic<std::uint64_t> round_trips_{0};
};

}  // namespace redis_session
