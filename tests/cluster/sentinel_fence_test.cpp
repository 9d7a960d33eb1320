// Sentinel's promotion fence (SentinelOptions::promotion_fence): a replica
// that says it is a master while the sentinels still name the old one is
// being promoted, and whatever the old master accepts from then on is lost.
// The store holds writes back (typed errors once retry_window is spent) until
// a sentinel names the new master, or for at most promotion_fence. Here the
// replica is detached by hand (REPLICAOF NO ONE), a promotion no sentinel
// ever confirms: the fence must rise within a few watch intervals, hold, and
// end after promotion_fence; a store with the fence off writes on.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "topology_helpers.hpp"

namespace redis_session::test {
namespace {

using namespace std::chrono_literals;
RedisPoolStoreOptions store_options(const SentinelGroup& group, std::chrono::milliseconds fence) {
  RedisPoolStoreOptions options = sentinel_store(group, "fence");
  options.sentinel->watch_interval = 50ms;
  options.sentinel->promotion_fence = fence;
  options.sentinel->retry_window = 200ms;
  options.sentinel->retry_backoff = 20ms;
  return options;
}

TEST(SentinelFence, AReplicaSayingItIsMasterHoldsWritesBackForAtMostTheFence) {
  constexpr auto fence = 1500ms;
  SentinelGroup group;
  const std::string master = group.data_address(0);
  const std::string replica = group.data_address(1);
  ASSERT_EQ(group.agreed_master(), master);

  RedisPoolStore fenced(store_options(group, fence));
  RedisPoolStore unfenced(store_options(group, 0ms));
  ASSERT_EQ(fenced.save("a", creating({{"n", 0}})), SaveResult::saved);
  ASSERT_EQ(unfenced.save("b", creating({{"n", 0}})), SaveResult::saved);
  std::this_thread::sleep_for(300ms);  // a few watch intervals with nothing to fence

  ASSERT_TRUE(node_command(replica, {"REPLICAOF", "NO", "ONE"}).is_status("OK"));
  const Clock::time_point detached = Clock::now();

  std::vector<std::string> acknowledged;  // fields of "a" the fenced store saved
  Clock::time_point first_refusal{};
  Clock::time_point resumed{};
  std::string refusal;
  int unfenced_failures = 0;
  int unfenced_saves = 0;
  for (int i = 0; ms_between(detached, Clock::now()) < 15000; ++i) {
    const std::string field = "w" + std::to_string(i);
    try {
      if (fenced.save("a", updating({{field, i}})) == SaveResult::saved) {
        acknowledged.push_back(field);
        if (first_refusal != Clock::time_point{} && resumed == Clock::time_point{}) resumed = Clock::now();
      }
    } catch (const ConnectError& e) {
      if (first_refusal == Clock::time_point{}) {
        first_refusal = Clock::now();
        refusal = e.what();
      }
    }
    try {
      if (unfenced.save("b", updating({{field, i}})) == SaveResult::saved) {
        ++unfenced_saves;
      }
    } catch (const Error&) {
      ++unfenced_failures;
    }
    if (resumed != Clock::time_point{} && ms_between(resumed, Clock::now()) > 300) break;
    std::this_thread::sleep_for(5ms);
  }

  ASSERT_NE(first_refusal, Clock::time_point{}) << "the fenced store never held a write back";
  ASSERT_NE(resumed, Clock::time_point{}) << "the fenced store never wrote again";
  const long long raised_ms = ms_between(detached, first_refusal);
  const long long held_ms = ms_between(first_refusal, resumed);
  std::printf(
      "[figure] promotion fence: raised %lld ms after the replica said master (watch_interval 50 ms), "
      "writes held back %lld ms (promotion_fence %lld ms, no sentinel confirmed); unfenced store: %d saves, "
      "%d failures meanwhile\n",
      raised_ms, held_ms, static_cast<long long>(fence.count()), unfenced_saves, unfenced_failures);
  EXPECT_NE(refusal.find("failover of '" + group.master_name() + "' under way"), std::string::npos) << refusal;
  EXPECT_LT(raised_ms, 2000);
  // Held for the fence (its first refusal comes a retry_window after it rose), then let go.
  EXPECT_GE(held_ms, 1000);
  EXPECT_LT(held_ms, 1500 + 3000);
  EXPECT_EQ(unfenced_failures, 0);
  EXPECT_GT(unfenced_saves, 0);

  // Every acknowledged write is on the master the sentinels name; none went
  // to the replica that was never confirmed.
  const std::map<std::string, std::string> fields = as_map(node_command(master, {"HGETALL", "fence:a"}));
  for (const std::string& field : acknowledged) EXPECT_EQ(fields.count(field), 1u) << field;
  // The replica holds only what it had before it was detached: "n" and the
  // create's metadata (the creation time "\0c" and its token "\0w").
  EXPECT_LE(node_command(replica, {"HLEN", "fence:a"}).integer, 3) << "the detached replica took writes";
}

}  // namespace
}  // namespace redis_session::test
