#pragma once
// What SentinelRouter decides, as pure functions from replies to actions, so
// every branch is tested without a server (tests/unit/sentinel_decision_test):
// the sentinels' and the data nodes' replies are parsed into plain values,
// and a function of the router's State and those values says what to do:
// use this master, hold writes back (the promotion fence), ask the next
// sentinel, or fail with a typed reason. The router only does the I/O and
// executes the answer. Internal.
//
// The fence: the sentinels name a new master only after they have seen the
// promoted replica report its new role, up to a second after it stopped
// replicating, and what the old master accepts meanwhile is lost. A replica
// that says "master" while the sentinels still name another (or a sentinel
// that reports a failover in progress) is a reason to send nothing to the old
// master until a sentinel names the new one, for at most promotion_fence.
// A reason that outlasts it is ignored until it is seen to be over.
//
// Thread safety: free functions; a State is guarded by its owner.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "redis_session/redis/reply.hpp"

namespace redis_session::detail::sentinel {

using Clock = std::chrono::steady_clock;

// ---- replies, parsed

// "host:port" of a ConnectionOptions::endpoint(), which reads
// "rediss://host:port" under TLS, while the sentinels and ROLE speak of
// "host:port". Masters are compared in this form, whichever they come in.
std::string address_of(std::string_view endpoint);

struct NamedMaster {
  std::string host;
  std::uint16_t port = 0;
};
// SENTINEL get-master-addr-by-name; nullopt when the sentinel does not know
// the master. Throws InvalidOptionsError for a port that is no port.
std::optional<NamedMaster> parse_master_addr(const redis::Reply& r);

// SENTINEL MASTER: whether its flags say a failover is in progress.
bool reports_failover(const redis::Reply& master);

// SENTINEL REPLICAS: the replicas worth asking for their ROLE ("host:port";
// not s_down, not disconnected); nullopt when the reply is not a list.
// Throws InvalidOptionsError for a port that is no port.
std::optional<std::vector<std::string>> parse_replicas(const redis::Reply& r);

// ROLE: its first element ("master", "slave", "sentinel"); nullopt for a
// reply of another shape.
std::optional<std::string> parse_role(const redis::Reply& r);

// ---- the router's state

// Why writes are held back.
struct FenceReason {
  enum class Kind : std::uint8_t { failover_in_progress, replica_says_master };
  Kind kind = Kind::failover_in_progress;
  std::string node;  // the sentinel's address, or the replica's "host:port"

  std::string text() const;
  friend bool operator==(const FenceReason& a, const FenceReason& b) { return a.kind == b.kind && a.node == b.node; }
  friend bool operator<(const FenceReason& a, const FenceReason& b) {
    return a.kind != b.kind ? a.kind < b.kind : a.node < b.node;
  }
};

// A master the store has left is not followed again (a sentinel that has not
// heard of the failover yet still names it) until it is seen as a replica,
// or for this long.
inline constexpr std::chrono::minutes left_for{1};

struct State {
  std::vector<std::string> sentinels;             // asked in this order
  std::string master;                             // "host:port" followed; empty before the first
  std::map<std::string, Clock::time_point> left;  // masters followed away from, and when
  std::optional<FenceReason> fence;               // set: writes are held back
  Clock::time_point fenced_since;
  std::set<FenceReason> ignored;  // outlasted promotion_fence, not yet seen over
};

// A connection to `endpoint` may be used (it goes to the master, unfenced).
bool writable(const State& s, std::string_view endpoint);
// The master named at `endpoint` is not one the store has left.
bool followable(const State& s, std::string_view endpoint);
// Makes `endpoint` the master (the old one is left, the fence comes down);
// false when it already is, or is a master left behind.
bool follow(State& s, std::string_view endpoint, Clock::time_point now);
// The sentinel at `address` answered: it is asked first from now on.
void promote(State& s, const std::string& address);

// ---- a connection's master

struct Action {
  enum class Kind : std::uint8_t { use, hold, ask_next, fail };
  enum class Why : std::uint8_t { none, fenced, unknown_master, stale_master, no_master_named, not_a_master };
  Kind kind = Kind::use;
  Why why = Why::none;
  std::string message;  // why not `use`, as the ConnectError says it
};

// Before the sentinels are asked for a new connection: hold while fenced.
Action before_connect(const State& s, const std::string& master_name);
// A sentinel's answer (`named`: the master's ConnectionOptions::endpoint(),
// nullopt when it knows none): use it, or ask the next sentinel.
Action on_named(const State& s, const std::string& sentinel, const std::optional<std::string>& named,
                const std::string& master_name);
// No sentinel of `asked` named a master to use; `last` says why the last did not.
Action none_named(std::size_t asked, const std::string& last, const std::string& master_name);
// The ROLE of the server the sentinels named, at `endpoint`: use it, or fail.
Action on_role(const std::optional<std::string>& role, const std::string& endpoint, const std::string& master_name);

// ---- the watcher

// What one round of the watcher saw.
struct Observations {
  std::vector<std::string> named;        // each answering sentinel's master ("host:port"), in asking order
  std::vector<std::string> in_progress;  // sentinels whose flags say failover_in_progress
  std::vector<std::string> quiet;        // sentinels whose flags do not
  std::vector<std::string> claimants;    // data nodes whose ROLE is "master"
  std::vector<std::string> replicas;     // data nodes whose ROLE is another
};

// The data nodes to ask for ROLE: the replicas the sentinels listed and the
// masters left behind (one the sentinels turned into a replica may be named
// again, a failback, and must be followable then), sorted, each once.
std::vector<std::string> role_targets(const State& s, std::vector<std::string> listed);

struct WatchAction {
  bool raised = false;                  // the fence went up
  std::optional<std::string> followed;  // the master changed to this
};

// Updates the fence and the masters left behind from what the round saw,
// then follows the sentinels: the first answer, or while fenced the first
// that names a master the store may follow (a sentinel that names another
// master than ours knows of the failover; one that names a master we left
// has not heard of it yet). Either change drops the idle connections.
WatchAction on_watch(State& s, const Observations& seen, std::chrono::milliseconds promotion_fence,
                     Clock::time_point now);

}  // namespace redis_session::detail::sentinel
