// Resharding under load (issue 8): 8 threads run load / save / increment on
// sessions of their own while `redis-cli --cluster reshard` moves the slots
// those sessions live in back and forth between two primaries (MIGRATE key
// by key, so calls meet ASK, then MOVED). No call may fail (the store follows
// the redirections within its bounded retries), and no acknowledged write
// may be lost: every answer matches what the thread was told it wrote, and
// at the end every hash on its node holds exactly that.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "topology_helpers.hpp"

namespace redis_session::test {
namespace {

using namespace std::chrono_literals;

TEST(ClusterReshard, EightThreadsLoseNothingWhileSlotsMove) {
  constexpr int threads = 8;
  constexpr int sessions_per_thread = 4;
  constexpr int moved_slots = 64;  // the sessions all live in slots 0..63
  constexpr int rounds = 4;        // each: there and back again
  const std::string ns = "reshard";

  RedisCluster cluster;
  const std::vector<ClusterNode> primaries = cluster.primaries();
  ASSERT_EQ(primaries.front().slots.front().first, 0);
  const std::string a = primaries[0].id;  // holds slot 0; redis-cli moves a source's lowest slots
  const std::string b = primaries[1].id;

  RedisPoolStore store(cluster_store(cluster, ns, threads));

  const std::vector<std::string> ids = ids_in_slots(ns, 0, moved_slots - 1, threads * sessions_per_thread, "reshard");
  std::vector<std::vector<ModelSession>> models(threads);
  for (int t = 0; t < threads; ++t) {
    models[t] = create_sessions(store, std::vector<std::string>(ids.begin() + t * sessions_per_thread,
                                                                ids.begin() + (t + 1) * sessions_per_thread));
  }

  LoadStats stats;
  std::atomic<bool> resharding{false};
  std::atomic<long long> ops_while_resharding{0};
  std::atomic<long long> slowest_us{0};
  Workers workers(threads, [&](int t, const std::atomic<bool>& stop) {
    std::vector<ModelSession>& mine = models[t];
    for (long long i = 0; !stop.load(); ++i) {
      ModelSession& s = mine[static_cast<std::size_t>(i / 3) % mine.size()];
      const Clock::time_point start = Clock::now();
      const bool during = resharding.load();
      if (run_op(store, s, i, stats) && during && resharding.load()) ops_while_resharding.fetch_add(1);
      const long long us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
      long long seen = slowest_us.load();
      while (us > seen && !slowest_us.compare_exchange_weak(seen, us)) {
      }
    }
    // The last word: a load that shows what is there now.
    for (ModelSession& s : mine) run_op(store, s, 0, stats);
  });

  // Let the load get going, then move the slots to and fro.
  wait_for_ops(stats.ops, 200);
  std::vector<long long> reshard_ms;
  std::string failure;
  try {
    for (int round = 0; round < rounds; ++round) {
      for (const auto& [from, to] : {std::pair(a, b), std::pair(b, a)}) {
        cluster.wait_healthy();
        resharding = true;
        const Clock::time_point start = Clock::now();
        std::unique_ptr<ChildProcess> child = cluster.reshard_async(from, to, moved_slots);
        const int status = child->wait(60s);
        reshard_ms.push_back(ms_between(start, Clock::now()));
        resharding = false;
        if (status != 0) throw std::runtime_error(child->command_line() + " failed:\n" + child->output());
        const ClusterNode owner = cluster.slot_owner(0);
        if (owner.id != to) throw std::runtime_error("slot 0 is on " + owner.id + " after moving it to " + to);
      }
    }
    cluster.wait_healthy();
  } catch (const std::exception& e) {
    failure = e.what();
  }
  std::this_thread::sleep_for(200ms);
  workers.stop_and_join();
  ASSERT_EQ(failure, "");

  std::string moves;
  for (long long ms : reshard_ms) moves += std::to_string(ms) + " ";
  std::printf("[figure] reshard under load: %d reshards of %d slots (%d sessions in them), each took (ms): %s\n",
              static_cast<int>(reshard_ms.size()), moved_slots, threads * sessions_per_thread, moves.c_str());
  std::printf(
      "[figure] reshard under load: %lld calls by %d threads, %lld while slots were moving, slowest call "
      "%lld ms, failed calls %lld (%s)\n",
      stats.ops.load(), threads, ops_while_resharding.load(), slowest_us.load() / 1000, stats.errors.load(),
      stats.summary().c_str());

  // Calls made one round trip each, plus their creates; the rest were redirections and retries.
  std::printf("[figure] reshard under load: %llu round trips for %lld calls (%lld extra: ASK/MOVED hops and retries)\n",
              static_cast<unsigned long long>(store.round_trips()),
              stats.ops.load() + static_cast<long long>(ids.size()),
              static_cast<long long>(store.round_trips()) - stats.ops.load() - static_cast<long long>(ids.size()));

  EXPECT_GT(ops_while_resharding.load(), 100) << "the load did not overlap the reshards";
  EXPECT_EQ(stats.errors.load(), 0) << stats.summary();
  EXPECT_EQ(stats.untyped_errors, 0) << stats.summary();
  EXPECT_EQ(stats.mismatches, 0) << stats.summary();

  // Every hash on the node that owns it now, read without the store.
  const std::string owner = cluster.slot_owner(0).address;
  for (const std::vector<ModelSession>& mine : models) {
    for (const ModelSession& s : mine) {
      SCOPED_TRACE(s.id);
      const std::string key = ns + ":" + s.id;
      ASSERT_EQ(cluster.slot_owner(redis::key_slot(key)).address, owner);
      EXPECT_FALSE(s.uncertain);
      EXPECT_EQ(node_command(owner, {"HGET", key, "n"}).str, std::to_string(s.n));
      for (const auto& [field, value] : s.fields) {
        EXPECT_EQ(node_command(owner, {"HGET", key, field}).str, std::to_string(value)) << field;
      }
    }
  }
}

}  // namespace
}  // namespace redis_session::test
