#pragma once
// Test support for issue 8: a throwaway Redis Cluster (N primaries, R replicas
// each, created with `redis-cli --cluster create`) and a throwaway Sentinel
// group (1 master, 1 replica, 3 sentinels). Every process is a RedisServer:
// free loopback ports, its own temp dir, killed on destruction and when the
// test process dies. A missing redis-server or redis-cli throws.
//
// The waits are bounded (generous limits, then std::runtime_error with what
// was last seen), so a broken cluster fails a test instead of hanging it.
//
// Thread safety: none, except that command(), nodes(), slot_owner() and
// ChildProcess::wait() on distinct objects may run while load threads use the
// cluster; control each fixture from one thread.

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "redis_session/redis/reply.hpp"
#include "support/process.hpp"
#include "support/redis_server.hpp"

namespace redis_session::test {

// A command on a fresh connection to "host:port" (1 s deadlines). An error
// reply throws ServerError, like Connection::command.
redis::Reply node_command(const std::string& address, std::initializer_list<std::string_view> args);
redis::Reply node_command(const std::string& address, const std::vector<std::string>& args);
// SET key value on "host:port", then WAIT there for `replicas` replicas to
// have it; returns how many do. Both on one connection: WAIT counts the
// replicas that have this client's own writes, so on a fresh connection it
// answers at once, whatever the replicas hold.
long long set_replicated(const std::string& address, std::string_view key, std::string_view value, int replicas = 1,
                         std::chrono::milliseconds limit = std::chrono::seconds(5));
// ROLE's first word ("master", "slave", "sentinel"), asked again while the
// connection fails (a sentinel reconfiguring a node kills its clients).
std::string role_of(const std::string& address, std::chrono::milliseconds limit = std::chrono::seconds(10));

// A child process (redis-cli) with stdout+stderr captured in a file. Dies
// with the test process (PR_SET_PDEATHSIG); the destructor kills and reaps it.
class ChildProcess {
 public:
  explicit ChildProcess(std::vector<std::string> argv);

  // Waits for the exit, at most `limit` (then kills it and throws). Returns
  // the exit status (128 + signal when killed by one).
  int wait(std::chrono::milliseconds limit);
  bool finished() { return !process_.running(); }  // without waiting
  std::string output() const;
  std::string command_line() const { return process_.command_line(); }

 private:
  TempDir dir_;  // before process_: it holds the output file
  Process process_;
};

struct ClusterNode {
  std::string id;
  std::string address;     // "127.0.0.1:port"
  bool primary = false;
  std::string primary_id;  // of a replica
  bool failed = false;     // flagged fail / pfail or disconnected
  std::vector<std::pair<int, int>> slots;  // ranges, inclusive
  int slot_count() const;
};

struct RedisClusterOptions {
  int primaries = 3;
  int replicas_per_primary = 0;
  // Small, so a killed primary is noticed and replaced in a few seconds.
  std::chrono::milliseconds node_timeout{1000};
  std::vector<std::string> args;  // extra redis-server arguments for every node
};

class RedisCluster : NonCopyable {
 public:
  explicit RedisCluster(RedisClusterOptions options = {});
  ~RedisCluster();

  // "127.0.0.1:port" of every node still running (primaries first at creation).
  std::vector<std::string> seeds() const;
  std::size_t size() const { return servers_.size(); }
  RedisServer& server(std::size_t i) { return *servers_.at(i); }
  std::string address(std::size_t i) const;
  // The server listening on "127.0.0.1:port"; throws if none.
  std::size_t index_of(const std::string& address) const;

  // CLUSTER NODES as seen by a running node (`via`, or the first that answers).
  std::vector<ClusterNode> nodes(const std::string& via = {}) const;
  std::vector<ClusterNode> primaries(const std::string& via = {}) const;  // holding slots, not failed
  ClusterNode node_by_id(const std::string& id) const;
  ClusterNode slot_owner(int slot) const;  // from CLUSTER SLOTS of a running node

  // A command on a fresh connection to node i.
  redis::Reply command(std::size_t i, std::initializer_list<std::string_view> args) const;

  // Waits until every running node says cluster_state:ok, all 16384 slots
  // are assigned, every node agrees on the slot map, no slot is migrating or
  // importing, and every replica's link to its primary is up. Throws after
  // `limit` with what it saw last.
  void wait_healthy(std::chrono::milliseconds limit = std::chrono::seconds(60)) const;

  // `redis-cli --cluster reshard`: moves `slots` slots (the lowest the
  // source holds) from node id `from` to node id `to`. reshard_async returns
  // the running child; reshard() waits for it (and for the cluster to settle
  // first) and throws with its output when it fails.
  std::unique_ptr<ChildProcess> reshard_async(const std::string& from, const std::string& to, int slots) const;
  void reshard(const std::string& from, const std::string& to, int slots,
               std::chrono::milliseconds limit = std::chrono::seconds(60)) const;

  // SIGKILLs the primary with this id; returns its index (the process can be
  // start()ed again through server(i) to rejoin, as a replica).
  std::size_t kill_node(const std::string& id);
  // Waits until a replica of the killed primary `old_id` is a primary
  // holding slots, ROLE says master, and the cluster is healthy again.
  // Returns the new primary.
  ClusterNode wait_promotion(const std::string& old_id,
                             std::chrono::milliseconds limit = std::chrono::seconds(60)) const;

 private:
  std::string any_running() const;
  RedisClusterOptions options_;
  TempDir conf_dir_;  // nodes-<i>.conf, on tmpfs when there is one
  std::vector<std::unique_ptr<RedisServer>> servers_;
  std::map<std::string, std::vector<std::pair<int, int>>> killed_slots_;  // by node id
};

struct SentinelGroupOptions {
  std::string master_name = "mymaster";
  std::chrono::milliseconds down_after{1000};
  std::chrono::milliseconds failover_timeout{5000};
  // The data nodes also listen on TLS ports and replicate over TLS
  // (tls-replication yes, trusting the test CA); the sentinels monitor the
  // TLS ports, so SENTINEL get-master-addr-by-name names a TLS port. The
  // plain ports stay open but nothing is told of them; the sentinels
  // themselves are plain TCP.
  bool tls = false;
};

// 1 master, 1 replica (--replicaof), 3 sentinels (`redis-server <conf>
// --sentinel`, quorum 2), each config file in a temp dir of the group (a
// sentinel rewrites its own).
class SentinelGroup : NonCopyable {
 public:
  explicit SentinelGroup(SentinelGroupOptions options = {});
  ~SentinelGroup();

  const std::string& master_name() const { return options_.master_name; }
  std::vector<std::string> sentinels() const;  // "127.0.0.1:port"
  // The data nodes: 0 started as master, 1 as its replica.
  RedisServer& data(std::size_t i) { return *data_.at(i); }
  // "127.0.0.1:port" of data node i as the sentinels name it (its TLS port
  // when the group is TLS).
  std::string data_address(std::size_t i) const;
  std::size_t data_index_of(const std::string& address) const;
  // A command on a fresh connection to a data node named by data_address()
  // or by a sentinel: node_command(), over TLS verified against the test CA
  // when the group is TLS.
  redis::Reply data_command(const std::string& address, std::initializer_list<std::string_view> args) const;

  // What sentinel i says (SENTINEL get-master-addr-by-name), "host:port".
  std::string master_address(std::size_t sentinel = 0) const;
  // The master when all sentinels agree on it; empty when they do not.
  std::string agreed_master() const;

  // SENTINEL FAILOVER on sentinel 0 (retried while a previous failover is
  // still in progress, within `limit`).
  void failover(std::chrono::milliseconds limit = std::chrono::seconds(30));
  // Waits until every sentinel names a master other than `old_address` and
  // that node's ROLE is master. Returns the new master's address.
  std::string wait_failover(const std::string& old_address,
                            std::chrono::milliseconds limit = std::chrono::seconds(60)) const;
  // Waits until the sentinels agree on a master, it has a replica whose link
  // is up, and every sentinel knows that replica and the two other sentinels
  // (what SENTINEL FAILOVER needs).
  void wait_ready(std::chrono::milliseconds limit = std::chrono::seconds(60)) const;

 private:
  std::uint16_t data_port(std::size_t i) const;
  void wait_until_failover(const std::string& old_address, std::chrono::milliseconds limit, std::string& result) const;
  SentinelGroupOptions options_;
  TempDir conf_dir_;  // sentinel<i>.conf, on tmpfs when there is one
  std::vector<std::unique_ptr<RedisServer>> data_;
  std::vector<std::unique_ptr<RedisServer>> sentinels_;
};

}  // namespace redis_session::test
