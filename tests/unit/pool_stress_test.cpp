// Pool under load: 32 threads over 4 slots with failing creates, failing
// validations, discards, broken resources and the reaper all at once, while
// a monitor checks the invariants mid-run.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "redis_session/pool.hpp"
#include "support/fake_resource.hpp"

namespace redis_session {
namespace {

using namespace std::chrono_literals;
using namespace test;

int stress_ops_per_thread() {
  if (const char* env = std::getenv("REDIS_SESSION_POOL_STRESS_OPS")) {
    return std::max(1, std::atoi(env));
  }
  // The figure in every build, TSan included (about a minute there on
  // two cores, well inside the test's timeout).
  return 100000;
}

TEST_F(PoolTest, StressManyThreadsFewSlots) {
  constexpr int kThreads = 32;
  const int ops = stress_ops_per_thread();
  PoolOptions o;
  o.max_open = 4;
  o.max_idle = 2;            // exercise surplus closing
  o.acquire_timeout = 120s;  // no timeouts expected; the watchdog bounds the test
  o.idle_timeout = 5ms;      // the reaper runs concurrently
  o.max_lifetime = 20ms;     // and resources get replaced for age
  o.validate_after = 1ms;
  PoolHooks<FakeConn> h;
  std::atomic<std::uint64_t> create_calls{0};
  h.create = [&]() -> std::unique_ptr<FakeConn> {
    if (create_calls.fetch_add(1) % 97 == 96) {
      throw CustomCreateError{1};
    }
    return new_conn();
  };
  std::atomic<std::uint64_t> validate_calls{0};
  h.validate = [&](FakeConn&) { return validate_calls.fetch_add(1) % 50 != 49; };
  h.is_broken = [](const FakeConn& c) { return c.broken; };
  auto pool = std::make_unique<TestPool>(h, o);

  std::atomic<bool> done{false};
  std::atomic<int> finished{0};
  std::atomic<std::uint64_t> successes{0}, create_failures{0}, violations{0}, samples{0};
  std::mutex violation_mutex;
  std::string first_violation;
  const auto violation = [&](const std::string& what) {
    if (violations.fetch_add(1) == 0) {
      std::lock_guard<std::mutex> lock(violation_mutex);
      first_violation = what;
    }
  };

  std::thread monitor([&] {
    while (!done) {
      const PoolStats s = pool->stats();
      ++samples;
      if (s.open + s.creating > o.max_open) {
        violation("open + creating > max_open: " + std::to_string(s.open) + " + " + std::to_string(s.creating));
      }
      if (s.idle > o.max_idle || s.open != s.idle + s.in_use) {
        violation("idle/in_use inconsistent");
      }
      if (s.created != s.open + s.closed_total()) {
        violation("counters do not add up mid-run");
      }
      std::this_thread::sleep_for(200us);
    }
  });

  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      std::minstd_rand rng(static_cast<unsigned>(t) * 7919u + 1u);
      for (int i = 0; i < ops; ++i) {
        try {
          auto lease = pool->acquire();
          if (lease->leased.exchange(true)) {
            violation("a resource was handed to two holders");
          }
          const auto r = static_cast<unsigned>(rng() % 1000);
          if (r < 5) {
            std::this_thread::yield();
          } else {
            for (unsigned spin = 0; spin < r % 64; ++spin) {
              std::atomic_signal_fence(std::memory_order_seq_cst);  // a short, unoptimisable hold
            }
          }
          lease->leased = false;
          if (r >= 990) {
            lease.discard();
          } else if (r >= 980) {
            lease->broken = true;
          }
          ++successes;
        } catch (const CustomCreateError&) {
          ++create_failures;
        } catch (const std::exception& e) {
          violation(std::string("unexpected exception: ") + e.what());
        }
      }
      ++finished;
    });
  }

  // Watchdog: a deadlock fails the test (and aborts, since blocked threads
  // cannot be joined) instead of hanging CI until its own timeout.
  const auto deadline = Clock::now() + 300s;
  while (finished.load() < kThreads && Clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  if (finished.load() < kThreads) {
    const PoolStats s = pool->stats();
    std::fprintf(stderr, "stress deadlock: finished=%d open=%zu idle=%zu in_use=%zu creating=%zu waiting=%zu\n",
                 finished.load(), s.open, s.idle, s.in_use, s.creating, s.waiting);
    std::abort();
  }
  for (auto& w : workers) {
    w.join();
  }
  done = true;
  monitor.join();

  EXPECT_EQ(violations.load(), 0u) << first_violation;
  EXPECT_GT(samples.load(), 0u);
  const PoolStats s = pool->stats();
  const std::uint64_t total = static_cast<std::uint64_t>(kThreads) * static_cast<std::uint64_t>(ops);
  EXPECT_EQ(successes + create_failures, total);
  EXPECT_EQ(s.acquires, successes.load());
  EXPECT_EQ(s.failed_creates, create_failures.load());
  EXPECT_EQ(s.timeouts, 0u);
  EXPECT_EQ(s.in_use, 0u);
  EXPECT_EQ(s.creating, 0u);
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_LE(s.open, o.max_open);
  EXPECT_EQ(s.created + s.failed_creates, create_calls.load());
  EXPECT_GT(s.closed_broken, 0u);
  expect_counters_add_up(s);
  pool.reset();
  EXPECT_EQ(static_cast<std::uint64_t>(counters->destroyed.load()), s.created);
}

}  // namespace
}  // namespace redis_session
