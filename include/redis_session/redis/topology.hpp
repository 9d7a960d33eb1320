#pragma once
// Where the data lives when it is more than one Redis server: a Redis Cluster
// (keys sharded over primaries by hash slot) or a primary watched by Sentinel
// (automatic failover). Plain aggregates, like ConnectionOptions; the
// credentials, TLS settings and timeouts for every data node still come from
// a ConnectionOptions beside them (its host/port are then unused).
//
// URLs (RedisPoolStoreOptions::url accepts these too):
//   redis+cluster://[[user]:password@]host:port[,host:port...][?db=0]
//   rediss+cluster://...                                    (TLS to every node)
//   redis+sentinel://[[user]:password@]host:port[,host:port...]/master_name[/db]
//   rediss+sentinel://...                     (TLS to the data nodes, not to sentinels)
// The user and password are those of the data nodes; sentinels that need a
// password of their own take it from SentinelOptions::password.
//
// Thread safety: value types.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "redis_session/redis/options.hpp"

namespace redis_session::redis {

struct ClusterOptions {
  // Any nodes of the cluster, "host:port" ("[::1]:7000" for IPv6). The slot
  // map is read from the first that answers; the other nodes are learnt.
  std::vector<std::string> seeds;
  // MOVED and ASK hops one call may follow before it fails with the
  // ServerError of the last redirection.
  int max_redirects = 5;
  // TRYAGAIN, CLUSTERDOWN and a node that cannot be reached while the map is
  // changing are retried with exponential backoff (from retry_backoff,
  // doubling, at most 8x) for at most this long, then reported.
  std::chrono::milliseconds retry_window{2000};
  std::chrono::milliseconds retry_backoff{20};

  void validate() const;
};

struct SentinelOptions {
  std::string master_name;
  // The sentinels, "host:port". Asked in order; the first that knows the
  // master wins and moves to the front.
  std::vector<std::string> sentinels;
  // For sentinels configured with requirepass / ACL users (not the data nodes).
  std::string username;
  std::string password;
  // Connecting to and asking one sentinel, together.
  std::chrono::milliseconds sentinel_timeout{500};
  // A background thread asks a sentinel for the master this often, so a
  // failover is followed even by connections that see no error: a demoted
  // master may accept writes until Sentinel reconfigures it (seconds later),
  // and those writes would be lost. See README "Sentinel" for the server
  // settings that close the remaining window.
  std::chrono::milliseconds watch_interval{100};
  // The watcher also asks the master's replicas for their ROLE. A replica
  // that says "master" while the sentinels still name the old one is being
  // promoted: writes to the old master would be lost, so the store stops
  // sending any (calls wait within retry_window) until a sentinel names the
  // new master, for at most this long (0: never hold writes back).
  std::chrono::milliseconds promotion_fence{5000};
  // While no sentinel names a reachable primary (during a failover), calls
  // are retried with backoff for at most this long, then reported.
  std::chrono::milliseconds retry_window{2000};
  std::chrono::milliseconds retry_backoff{50};

  void validate() const;
};

// What a redis+cluster:// or redis+sentinel:// URL says. `connection` carries
// the user, password, db and TLS flag for the data nodes.
struct TopologyUrl {
  ConnectionOptions connection;
  std::optional<ClusterOptions> cluster;
  std::optional<SentinelOptions> sentinel;
};

// True for the redis+cluster, rediss+cluster, redis+sentinel and
// rediss+sentinel schemes.
bool is_topology_url(std::string_view url);
// Throws InvalidOptionsError (never quoting the password).
TopologyUrl parse_topology_url(std::string_view url);

// "host:port" / "[v6]:port" -> host and port. Throws InvalidOptionsError.
std::pair<std::string, std::uint16_t> parse_host_port(std::string_view text);

// CRC16 (XMODEM) of the key's hash tag (the part between the first '{' and
// the next '}', when non-empty) or of the whole key, mod 16384.
std::uint16_t key_slot(std::string_view key) noexcept;

}  // namespace redis_session::redis
