// The cluster and sentinel fixtures on their own (no store): a cluster comes
// up with every slot covered, a reshard moves slots and their keys, a killed
// primary is replaced by its replica, a SENTINEL FAILOVER moves the master.
// Also redis::key_slot against a real node's CLUSTER KEYSLOT.

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <thread>
#include <string>
#include <vector>

#include "redis_session/error.hpp"
#include "redis_session/redis/connection.hpp"
#include "redis_session/redis/topology.hpp"
#include "support/redis_cluster.hpp"
#include "support/redis_server.hpp"

namespace redis_session::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

long long ms_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

// A key (no hash tag) whose slot lies in [first, last].
std::string key_in_slots(int first, int last, const std::string& prefix) {
  for (int i = 0;; ++i) {
    std::string key = prefix + std::to_string(i);
    const int slot = redis::key_slot(key);
    if (slot >= first && slot <= last) return key;
  }
}

TEST(ClusterFixture, ThreePrimariesCoverEverySlot) {
  RedisCluster cluster;
  EXPECT_EQ(cluster.seeds().size(), 3u);
  const std::vector<ClusterNode> primaries = cluster.primaries();
  ASSERT_EQ(primaries.size(), 3u);
  int covered = 0;
  for (const ClusterNode& p : primaries) {
    EXPECT_FALSE(p.id.empty());
    EXPECT_GT(p.slot_count(), 5000);
    covered += p.slot_count();
  }
  EXPECT_EQ(covered, 16384);
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    const std::string info = cluster.command(i, {"CLUSTER", "INFO"}).str;
    EXPECT_NE(info.find("cluster_state:ok"), std::string::npos) << info;
    EXPECT_NE(info.find("cluster_slots_assigned:16384"), std::string::npos) << info;
  }
  // A key answers on its owner and redirects elsewhere.
  const std::string key = "fixture-key";
  const ClusterNode owner = cluster.slot_owner(redis::key_slot(key));
  EXPECT_TRUE(node_command(owner.address, {"SET", key, "v"}).is_status("OK"));
  for (const ClusterNode& p : primaries) {
    if (p.id == owner.id) continue;
    try {
      node_command(p.address, {"GET", key});
      ADD_FAILURE() << p.address << " answered for a key it does not own";
    } catch (const ServerError& e) {
      EXPECT_EQ(e.prefix(), "MOVED") << e.what();
    }
  }
}

TEST(ClusterFixture, ReshardMovesSlotsAndTheirKeys) {
  RedisCluster cluster;
  const std::vector<ClusterNode> before = cluster.primaries();
  const ClusterNode& from = before[0];
  const ClusterNode& to = before[1];
  // redis-cli moves the lowest slots the source holds.
  const int first = from.slots.front().first;
  const std::string key = key_in_slots(first, first + 99, "moving-");
  ASSERT_TRUE(node_command(from.address, {"SET", key, "travels"}).is_status("OK"));

  const Clock::time_point start = Clock::now();
  cluster.reshard(from.id, to.id, 100);
  cluster.wait_healthy();
  std::printf("[figure] reshard of 100 slots (1 key) took %lld ms\n", ms_since(start));
  EXPECT_EQ(cluster.node_by_id(from.id).slot_count(), from.slot_count() - 100);
  EXPECT_EQ(cluster.node_by_id(to.id).slot_count(), to.slot_count() + 100);
  EXPECT_EQ(cluster.slot_owner(redis::key_slot(key)).id, to.id);
  EXPECT_EQ(node_command(to.address, {"GET", key}).str, "travels");

  // And back: the target's lowest slots are the ones it just received.
  cluster.reshard(to.id, from.id, 100);
  cluster.wait_healthy();
  EXPECT_EQ(cluster.node_by_id(from.id).slot_count(), from.slot_count());
  EXPECT_EQ(cluster.slot_owner(redis::key_slot(key)).id, from.id);
  EXPECT_EQ(node_command(from.address, {"GET", key}).str, "travels");

  // Asynchronously, as the load tests run it.
  auto child = cluster.reshard_async(from.id, to.id, 10);
  EXPECT_EQ(child->wait(60s), 0) << child->output();
  cluster.wait_healthy();
  EXPECT_EQ(cluster.node_by_id(to.id).slot_count(), to.slot_count() + 10);
}

TEST(ClusterFixture, KilledPrimaryIsReplacedByItsReplica) {
  RedisClusterOptions options;
  options.replicas_per_primary = 1;
  RedisCluster cluster(options);
  EXPECT_EQ(cluster.seeds().size(), 6u);
  const std::vector<ClusterNode> primaries = cluster.primaries();
  ASSERT_EQ(primaries.size(), 3u);
  const ClusterNode victim = primaries[0];
  const std::string key = key_in_slots(victim.slots.front().first, victim.slots.front().second, "survivor-");
  // Acknowledged by the replica before the kill.
  ASSERT_EQ(set_replicated(victim.address, key, "kept"), 1);

  const Clock::time_point start = Clock::now();
  const std::size_t killed = cluster.kill_node(victim.id);
  EXPECT_FALSE(cluster.server(killed).running());
  const ClusterNode promoted = cluster.wait_promotion(victim.id);
  std::printf("[figure] primary SIGKILLed -> replica promoted and cluster_state:ok: %lld ms (node timeout 1000 ms)\n",
              ms_since(start));
  EXPECT_NE(promoted.id, victim.id);
  EXPECT_EQ(cluster.slot_owner(redis::key_slot(key)).id, promoted.id);
  EXPECT_EQ(node_command(promoted.address, {"GET", key}).str, "kept");
  EXPECT_EQ(cluster.primaries().size(), 3u);
  EXPECT_EQ(cluster.seeds().size(), 5u);
}

// ---- replication helper -------------------------------------------------------------

// The kill and failover tests above need "the replica has the write" to be
// true: WAIT on a connection that wrote nothing answers at once (its own
// write offset is 0), which let the killed-primary test pass WAIT and then
// find the key missing on the promoted replica.
TEST(ReplicationHelper, SetReplicatedCountsOnlyReplicasThatHaveTheWrite) {
  RedisServer primary;
  RedisServerOptions replica_options;
  replica_options.args = {"--replicaof", "127.0.0.1", std::to_string(primary.port()),
                          "--repl-diskless-sync-delay", "0"};
  RedisServer replica(replica_options);
  const std::string address = "127.0.0.1:" + std::to_string(primary.port());
  const Clock::time_point start = Clock::now();
  while (set_replicated(address, "synced", "1", 1, 200ms) != 1) {
    ASSERT_LT(ms_since(start), 20000) << "the replica never synced";
  }
  EXPECT_EQ(replica.command({"GET", "synced"}).str, "1");

  ASSERT_EQ(::kill(replica.pid(), SIGSTOP), 0);  // the replica takes nothing more in
  EXPECT_EQ(set_replicated(address, "late", "1", 1, 300ms), 0);
  // The pitfall: the same WAIT on a fresh connection reports the replica.
  EXPECT_EQ(node_command(address, {"SET", "late2", "1"}).str, "OK");
  EXPECT_EQ(node_command(address, {"WAIT", "1", "300"}).integer, 1);
  ASSERT_EQ(::kill(replica.pid(), SIGCONT), 0);
  EXPECT_EQ(set_replicated(address, "after", "1", 1, 5000ms), 1);
  EXPECT_EQ(replica.command({"GET", "late"}).str, "1");
}

// ---- key slots against a real node ------------------------------------------------

TEST(KeySlot, MatchesClusterKeyslotOfARealNode) {
  RedisServerOptions options;
  options.args = {"--cluster-enabled", "yes", "--cluster-port", std::to_string(free_port())};
  RedisServer node(options);
  redis::Connection c(node.options());

  std::vector<std::string> keys = {"", "{}", "{}{a}", "{a}", "a{b}c", "a{}b", "{{a}}", "a{", "}a{b", "{a}{b}",
                                   "foo", "123456789", "{user1000}.following", "session:abc", "{", "}", "}{"};
  std::mt19937_64 random(20261122);
  const std::string alphabet = std::string("abcXYZ019:_-.{}{}{}") + std::string(1, '\0') + "\xff\r\n ";
  for (int i = 0; i < 3000; ++i) {
    std::string key(random() % 24, ' ');
    for (char& ch : key) ch = alphabet[random() % alphabet.size()];
    keys.push_back(key);
  }
  for (int i = 0; i < 200; ++i) keys.push_back("session:" + std::to_string(random()));
  keys.push_back(std::string(5000, 'k') + "{tag}");

  redis::Request request;
  for (const std::string& k : keys) request.push({"CLUSTER", "KEYSLOT", k});
  const std::vector<redis::Reply> replies = c.execute(request);
  ASSERT_EQ(replies.size(), keys.size());
  int mismatches = 0;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    ASSERT_TRUE(replies[i].is_integer()) << replies[i].str;
    if (replies[i].integer != redis::key_slot(keys[i]) && ++mismatches <= 10) {
      ADD_FAILURE() << "key of " << keys[i].size() << " bytes \"" << keys[i] << "\": CLUSTER KEYSLOT "
                    << replies[i].integer << ", key_slot " << redis::key_slot(keys[i]);
    }
  }
  EXPECT_EQ(mismatches, 0) << "of " << keys.size() << " keys";
}

// ---- sentinel ---------------------------------------------------------------------

TEST(SentinelFixture, FailoverMovesTheMaster) {
  SentinelGroup group;
  ASSERT_EQ(group.sentinels().size(), 3u);
  const std::string old_master = group.agreed_master();
  EXPECT_EQ(old_master, group.data_address(0));
  ASSERT_EQ(set_replicated(old_master, "before", "1"), 1);

  const Clock::time_point start = Clock::now();
  group.failover();
  const std::string new_master = group.wait_failover(old_master);
  std::printf("[figure] SENTINEL FAILOVER -> all 3 sentinels name the new master: %lld ms\n", ms_since(start));
  EXPECT_EQ(new_master, group.data_address(1));
  EXPECT_EQ(node_command(new_master, {"GET", "before"}).str, "1");
  EXPECT_EQ(role_of(new_master), "master");
  // The old master is turned into a replica of the new one (sentinels wait
  // a while before they do that to a live node).
  const Clock::time_point demote_start = Clock::now();
  std::string role;
  while (ms_since(demote_start) < 40000) {
    role = role_of(old_master);
    if (role == "slave") break;
    std::this_thread::sleep_for(50ms);
  }
  std::printf("[figure] old master demoted to replica %lld ms after the sentinels switched\n", ms_since(demote_start));
  EXPECT_EQ(role, "slave");
}

}  // namespace
}  // namespace redis_session::test
