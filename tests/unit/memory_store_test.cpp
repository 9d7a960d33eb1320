// MemoryStore's own behaviour, beyond the SessionStore contract that
// tests/integration/store_conformance.hpp checks on every store: its
// options, both expiry timers on its steady clock, shards, when it reclaims
// the memory of expired sessions, its locking under concurrency, and the
// increment arithmetic it shares with Session. No server needed.

#include "redis_session/memory_store.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "redis_session/detail/checked_increment.hpp"
#include "redis_session/error.hpp"
#include "redis_session/session_store.hpp"
#include "support/messages.hpp"
#include "support/session_changes.hpp"

namespace redis_session {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using test::creating;
using test::updating;

MemoryStoreOptions with(std::size_t shards, std::chrono::milliseconds idle = 24h) {
  MemoryStoreOptions options;
  options.shards = shards;
  options.expiry.idle_timeout = idle;
  return options;
}

std::string id_of(int i) {
  return "s" + std::to_string(i);
}

// ---------------------------------------------------------------- options

TEST(MemoryStoreOptions, ShardsOutOfRangeAreRejected) {
  for (std::size_t shards : {std::size_t{0}, std::size_t{1025}, std::size_t{1} << 40}) {
    const std::string message = test::message_of([&] { MemoryStore store(with(shards)); });
    EXPECT_NE(message.find("shards"), std::string::npos) << shards << ": " << message;
    EXPECT_THROW(MemoryStore store(with(shards)), InvalidOptionsError) << shards;
  }
  for (std::size_t shards : {std::size_t{1}, std::size_t{7}, std::size_t{1024}}) {
    MemoryStore store(with(shards));
    EXPECT_EQ(store.options().shards, shards);
  }
}

TEST(MemoryStoreOptions, ACodecWithoutSerializeIsRejectedByTheConstructor) {
  MemoryStoreOptions options;
  options.codec.serialize = nullptr;
  const std::string message = test::message_of([&] { MemoryStore store(options); });
  EXPECT_NE(message.find("codec"), std::string::npos) << message;
  EXPECT_THROW(MemoryStore store(options), InvalidOptionsError);
}

TEST(MemoryStoreOptions, ExpiryIsValidatedByTheConstructor) {
  MemoryStoreOptions zero_idle;
  zero_idle.expiry.idle_timeout = 0ms;
  EXPECT_THROW(MemoryStore store(zero_idle), InvalidOptionsError);
  MemoryStoreOptions zero_lifetime;
  zero_lifetime.expiry.absolute_lifetime = 0ms;
  EXPECT_THROW(MemoryStore store(zero_lifetime), InvalidOptionsError);
  MemoryStoreOptions too_long;
  too_long.expiry.idle_timeout = std::chrono::hours(24 * 400);
  EXPECT_THROW(MemoryStore store(too_long), InvalidOptionsError);
  EXPECT_NO_THROW(MemoryStore store(MemoryStoreOptions{}));
}

// ---------------------------------------------------------------- expiry

TEST(MemoryStoreExpiry, IdleTimeoutSlidesWithUseAndEndsWithout) {
  MemoryStore store(with(4, 200ms));
  ASSERT_EQ(store.save("used", creating({{"n", 1}})), SaveResult::saved);
  ASSERT_EQ(store.save("idle", creating({{"n", 1}})), SaveResult::saved);
  // Used every 50 ms for 400 ms: twice the idle window, alive throughout.
  for (int i = 0; i < 8; ++i) {
    std::this_thread::sleep_for(50ms);
    ASSERT_TRUE(store.touch("used")) << "use " << i;
  }
  EXPECT_FALSE(store.exists("idle"));
  EXPECT_TRUE(store.exists("used"));
  std::this_thread::sleep_for(400ms);
  EXPECT_FALSE(store.exists("used"));
  EXPECT_EQ(store.load("used"), std::nullopt);
  EXPECT_EQ(store.count(), 0U);
}

TEST(MemoryStoreExpiry, AbsoluteLifetimeEndsAnActiveSessionAndSurvivesRegenerate) {
  MemoryStoreOptions options = with(4, 10s);
  options.expiry.absolute_lifetime = 300ms;
  MemoryStore store(options);
  const auto created = std::chrono::steady_clock::now();
  ASSERT_EQ(store.save("a", creating({{"n", 1}})), SaveResult::saved);
  std::this_thread::sleep_for(100ms);
  ASSERT_EQ(store.regenerate("a", "b"), RegenerateResult::moved);
  ASSERT_EQ(store.increment("b", "n", 1, false), std::optional<long long>(2));
  std::this_thread::sleep_until(created + 600ms);
  EXPECT_FALSE(store.touch("b"));
  EXPECT_EQ(store.increment("b", "n", 1, false), std::nullopt);
  // A new session under the same id starts a lifetime of its own.
  ASSERT_EQ(store.save("b", creating()), SaveResult::saved);
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(store.exists("b"));
  EXPECT_EQ(store.load("b"), Fields{});
}

TEST(MemoryStoreExpiry, TheEarlierOfTheTwoDeadlinesWins) {
  MemoryStoreOptions options = with(1, 150ms);
  options.expiry.absolute_lifetime = 10s;
  MemoryStore idle_first(options);
  ASSERT_EQ(idle_first.save("a", creating()), SaveResult::saved);
  std::this_thread::sleep_for(400ms);
  EXPECT_FALSE(idle_first.exists("a")) << "the idle deadline came first";

  options.expiry.idle_timeout = 10s;
  options.expiry.absolute_lifetime = 150ms;
  MemoryStore lifetime_first(options);
  ASSERT_EQ(lifetime_first.save("a", creating()), SaveResult::saved);
  std::this_thread::sleep_for(400ms);
  EXPECT_FALSE(lifetime_first.exists("a")) << "the absolute deadline came first";
}

// ---------------------------------------------------------------- lazy reclaim

TEST(MemoryStoreReclaim, AnExpiredSessionIsHeldUntilSomethingMeetsIt) {
  MemoryStore store(with(1, 50ms));
  const std::vector<std::string> ids = {"load", "exists", "touch", "save", "increment", "destroy", "regenerate"};
  for (const std::string& id : ids) ASSERT_EQ(store.save(id, creating({{"n", 1}})), SaveResult::saved);
  std::this_thread::sleep_for(150ms);
  std::size_t held = ids.size();
  ASSERT_EQ(store.held(), held) << "nothing has looked at them yet";
  EXPECT_EQ(store.load("load"), std::nullopt);
  EXPECT_EQ(store.held(), --held);
  EXPECT_FALSE(store.exists("exists"));
  EXPECT_EQ(store.held(), --held);
  EXPECT_FALSE(store.touch("touch"));
  EXPECT_EQ(store.held(), --held);
  EXPECT_EQ(store.save("save", updating({{"n", 2}})), SaveResult::gone);
  EXPECT_EQ(store.held(), --held);
  EXPECT_EQ(store.increment("increment", "n", 1, false), std::nullopt);
  EXPECT_EQ(store.held(), --held);
  EXPECT_FALSE(store.destroy("destroy"));
  EXPECT_EQ(store.held(), --held);
  EXPECT_EQ(store.regenerate("regenerate", "elsewhere"), RegenerateResult::gone);
  EXPECT_EQ(store.held(), --held);
  EXPECT_EQ(held, 0U);
}

TEST(MemoryStoreReclaim, CountForEachIdAndClearReclaimEveryExpiredSession) {
  for (int way = 0; way < 3; ++way) {
    SCOPED_TRACE(way);
    MemoryStore store(with(8, 50ms));
    for (int i = 0; i < 40; ++i) ASSERT_EQ(store.save(id_of(i), creating()), SaveResult::saved);
    std::this_thread::sleep_for(150ms);
    ASSERT_EQ(store.held(), 40U);
    ASSERT_EQ(store.save("live", creating()), SaveResult::saved);
    if (way == 0) {
      EXPECT_EQ(store.count(), 1U);
    }
    if (way == 1) {
      EXPECT_EQ(store.ids(), std::vector<std::string>{"live"});
    }
    if (way == 2) {
      EXPECT_EQ(store.clear(), 1U) << "clear() counts only live sessions";
    }
    EXPECT_EQ(store.held(), way == 2 ? 0U : 1U);
  }
}

TEST(MemoryStoreReclaim, ChurnWithoutReadsStaysBounded) {
  // Sessions created and never used again (crawlers, say) must not pile up
  // between count() calls: creations sweep their shard now and then.
  constexpr int rounds = 20;
  constexpr int per_round = 200;
  MemoryStore store(with(1, 20ms));
  std::size_t most = 0;
  for (int round = 0; round < rounds; ++round) {
    for (int i = 0; i < per_round; ++i) {
      ASSERT_EQ(store.save(id_of(round * per_round + i), creating()), SaveResult::saved);
    }
    most = std::max(most, store.held());
    std::this_thread::sleep_for(40ms);  // every session of the round expires
  }
  // One sweep per max(shard size, 64) creations keeps the expired about as
  // many as the live: far below the 4000 created.
  EXPECT_LE(most, std::size_t{3 * per_round + 64});
  EXPECT_EQ(store.count(), 0U);
}

// ---------------------------------------------------------------- shards

TEST(MemoryStoreShards, EveryShardCountWorksTheSame) {
  for (std::size_t shards : {std::size_t{1}, std::size_t{2}, std::size_t{16}, std::size_t{1024}}) {
    SCOPED_TRACE(shards);
    MemoryStore store(with(shards));
    for (int i = 0; i < 300; ++i) ASSERT_EQ(store.save(id_of(i), creating({{"i", i}})), SaveResult::saved);
    EXPECT_EQ(store.count(), 300U);
    EXPECT_EQ(store.ids().size(), 300U);
    // Regenerates within a shard and across shards alike.
    for (int i = 0; i < 300; ++i) {
      ASSERT_EQ(store.regenerate(id_of(i), "moved" + std::to_string(i)), RegenerateResult::moved);
    }
    for (int i = 0; i < 300; ++i) {
      ASSERT_EQ(store.load("moved" + std::to_string(i)), (Fields{{"i", i}}));
      ASSERT_FALSE(store.exists(id_of(i)));
    }
    EXPECT_EQ(store.clear(), 300U);
    EXPECT_EQ(store.held(), 0U);
  }
}

TEST(MemoryStoreShards, RegeneratingAnIdToItselfLocksItsShardOnce) {
  MemoryStore store(with(4));
  ASSERT_EQ(store.save("a", creating({{"n", 1}})), SaveResult::saved);
  EXPECT_EQ(store.regenerate("a", "a"), RegenerateResult::exists);  // would deadlock if locked twice
  EXPECT_EQ(store.load("a"), (Fields{{"n", 1}}));
}

TEST(MemoryStoreShards, LoadReturnsACopy) {
  MemoryStore store(with(2));
  ASSERT_EQ(store.save("a", creating({{"list", json::array({1})}})), SaveResult::saved);
  std::optional<Fields> first = store.load("a");
  ASSERT_TRUE(first);
  (*first)["list"].push_back(2);
  first->erase("list");
  EXPECT_EQ(store.load("a"), (Fields{{"list", json::array({1})}}));
}

// ---------------------------------------------------------------- concurrency

TEST(MemoryStoreConcurrency, CrossingRegeneratesNeitherDeadlockNorLose) {
  // Each thread moves its own session from id to id many times over two
  // shards, so pairs of regenerates lock the same two shards in both
  // directions, while another thread counts and lists.
  constexpr int threads = 8;
  constexpr int moves = 2000;
  MemoryStore store(with(2));
  for (int t = 0; t < threads; ++t) ASSERT_EQ(store.save(id_of(t) + ".0", creating({{"t", t}})), SaveResult::saved);
  std::atomic<bool> done{false};
  std::atomic<int> wrong{0};
  std::thread watcher([&] {
    while (!done.load()) {
      // A scan is approximate under change (a session moving to a shard
      // not yet scanned is seen twice), but never beyond once per shard.
      if (store.count() > static_cast<std::size_t>(2 * threads)) wrong.fetch_add(1);
      store.for_each_id([&](std::string_view id) { (void)store.exists(id); });
    }
  });
  std::vector<std::thread> movers;
  for (int t = 0; t < threads; ++t) {
    movers.emplace_back([&, t] {
      for (int m = 0; m < moves; ++m) {
        const std::string from = id_of(t) + "." + std::to_string(m);
        const std::string to = id_of(t) + "." + std::to_string(m + 1);
        if (store.regenerate(from, to) != RegenerateResult::moved) wrong.fetch_add(1);
        if (store.increment(to, "moves", 1, false) != std::optional<long long>(m + 1)) wrong.fetch_add(1);
      }
    });
  }
  for (std::thread& m : movers) m.join();
  done.store(true);
  watcher.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(store.count(), static_cast<std::size_t>(threads));
  for (int t = 0; t < threads; ++t) {
    EXPECT_EQ(store.load(id_of(t) + "." + std::to_string(moves)), (Fields{{"moves", moves}, {"t", t}}));
  }
}

TEST(MemoryStoreConcurrency, ManySessionsManyThreads) {
  constexpr int threads = 8;
  constexpr int sessions = 500;
  MemoryStore store(with(16));
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < sessions; ++i) {
        const std::string id = id_of(t * sessions + i);
        (void)store.save(id, creating({{"owner", t}}));
        (void)store.increment(id, "n", 1, false);
        (void)store.load(id_of((t + 1) % threads * sessions + i));  // another thread's, maybe not yet there
        if (i % 2 == 0) (void)store.destroy(id);
      }
    });
  }
  for (std::thread& w : workers) w.join();
  EXPECT_EQ(store.count(), static_cast<std::size_t>(threads * sessions / 2));
  for (int t = 0; t < threads; ++t) {
    EXPECT_EQ(store.load(id_of(t * sessions + 1)), (Fields{{"n", 1}, {"owner", t}}));
    EXPECT_EQ(store.load(id_of(t * sessions)), std::nullopt);
  }
}

// ---------------------------------------------------------------- errors

TEST(MemoryStoreErrors, AFailedIncrementChangesNothingAndNamesOnlyTheField) {
  MemoryStore store(with(2));
  ASSERT_EQ(store.save("a", creating({{"secret", "hunter2"}, {"n", std::numeric_limits<long long>::max()}})),
            SaveResult::saved);
  const std::string message = test::message_of([&] { store.increment("a", "secret", 1, false); });
  EXPECT_NE(message.find("'secret'"), std::string::npos) << message;
  EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
  EXPECT_THROW(store.increment("a", "n", 1, false), SessionStateError);
  EXPECT_EQ(store.load("a"), (Fields{{"secret", "hunter2"}, {"n", std::numeric_limits<long long>::max()}}));
}

TEST(MemoryStoreErrors, ARejectedCreateLeavesNoSessionBehind) {
  MemoryStore store(with(2));
  EXPECT_THROW(store.save("a", creating({{"ok", 1}, {"", 2}})), InvalidArgumentError);
  EXPECT_THROW(store.increment("a", std::string(1, '\0'), 1, true), InvalidArgumentError);
  EXPECT_EQ(store.held(), 0U);
  EXPECT_FALSE(store.exists("a"));
}

// ---------------------------------------------------------------- checked_increment

TEST(CheckedIncrement, AddsWithinTheSigned64BitRange) {
  constexpr long long max = std::numeric_limits<long long>::max();
  constexpr long long min = std::numeric_limits<long long>::min();
  EXPECT_EQ(detail::checked_increment(json(41), 1, "n"), 42);
  EXPECT_EQ(detail::checked_increment(json(7u), -8, "n"), -1);
  EXPECT_EQ(detail::checked_increment(json(max - 1), 1, "n"), max);
  EXPECT_EQ(detail::checked_increment(json(static_cast<std::uint64_t>(max)), -1, "n"), max - 1);
  EXPECT_EQ(detail::checked_increment(json(min), max, "n"), -1);
  EXPECT_EQ(detail::checked_increment(json(min + 1), -1, "n"), min);
}

TEST(CheckedIncrement, RefusesNonIntegersOutOfRangeValuesAndOverflow) {
  constexpr long long max = std::numeric_limits<long long>::max();
  constexpr long long min = std::numeric_limits<long long>::min();
  for (const json& v :
       {json(1.5), json(2.0), json("5"), json(true), json(nullptr), json::array({1}), json::object({{"a", 1}}),
        json(static_cast<std::uint64_t>(max) + 1), json(std::numeric_limits<std::uint64_t>::max())}) {
    EXPECT_THROW(detail::checked_increment(v, -1, "f"), SessionStateError) << v.dump();
  }
  EXPECT_THROW(detail::checked_increment(json(max), 1, "f"), SessionStateError);
  EXPECT_THROW(detail::checked_increment(json(min), -1, "f"), SessionStateError);
  EXPECT_THROW(detail::checked_increment(json(1), max, "f"), SessionStateError);
  const std::string message = test::message_of([&] { detail::checked_increment(json(max), 1, "visits"); });
  EXPECT_NE(message.find("'visits'"), std::string::npos) << message;
  EXPECT_NE(message.find("overflow"), std::string::npos) << message;
}

}  // namespace
}  // namespace redis_session
