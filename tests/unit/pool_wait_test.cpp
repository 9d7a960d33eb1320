// Waiting for a slot, with a fake resource (tests/support/fake_resource.hpp):
// acquire timeouts, first-come-first-served order, and no lost wake-ups
// whatever frees the slot.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "redis_session/error.hpp"
#include "redis_session/pool.hpp"
#include "support/fake_resource.hpp"

namespace redis_session {
namespace {

using namespace std::chrono_literals;
using namespace test;

// ---------------------------------------------------------------- timeouts

TEST_F(PoolTest, AcquireTimesOutWithinTwentyPercent) {
  PoolOptions o = slots(1);
  o.acquire_timeout = 400ms;
  auto pool = make_pool(o);
  auto held = pool->acquire();
  const auto start = Clock::now();
  EXPECT_THROW(pool->acquire(), PoolTimeoutError);
  const auto elapsed = ms_since(start);
  EXPECT_GE(elapsed, 320u);
  EXPECT_LE(elapsed, 480u);
  const PoolStats s = pool->stats();
  expect_stats(s, {.waiting = 0, .timeouts = 1});
  EXPECT_GE(s.wait_max, 320ms);
  EXPECT_GE(s.wait_total, s.wait_max);
}

TEST_F(PoolTest, TimeoutErrorIsAPoolErrorWithItsCode) {
  PoolOptions o = slots(1);
  o.acquire_timeout = 20ms;
  auto pool = make_pool(o);
  auto held = pool->acquire();
  try {
    pool->acquire();
    ADD_FAILURE() << "acquire did not time out";
  } catch (const PoolError& e) {
    EXPECT_EQ(e.errc(), Errc::pool_timeout);
    EXPECT_NE(std::string(e.what()).find("20 ms"), std::string::npos) << e.what();
  }
}

TEST_F(PoolTest, WakeUpsDoNotRestartTheTimeout) {
  // Two waiters; the first is served halfway through. The second must still
  // time out acquire_timeout after it started, not after that event.
  PoolOptions o = slots(1);
  o.acquire_timeout = 400ms;
  auto pool = make_pool(o);
  auto held = pool->acquire();
  std::atomic<bool> first_served{false};
  std::thread first = guarded_thread([&] {
    auto lease = pool->acquire();
    first_served = true;
    std::this_thread::sleep_for(600ms);  // keep it past the second's deadline
  });
  EXPECT_TRUE(eventually([&] { return pool->stats().waiting == 1; }));
  const auto second_start = Clock::now();
  std::atomic<int> second_timed_out{0};
  std::uint64_t second_elapsed = 0;
  std::thread second = acquire_expecting<PoolTimeoutError>(
      *pool, second_timed_out, [&](const PoolTimeoutError&) { second_elapsed = ms_since(second_start); });
  EXPECT_TRUE(eventually([&] { return pool->stats().waiting == 2; }));
  std::this_thread::sleep_for(200ms);
  held.reset();  // serves `first`; `second` keeps waiting
  first.join();
  second.join();
  EXPECT_TRUE(first_served);
  EXPECT_EQ(second_timed_out.load(), 1);
  EXPECT_GE(second_elapsed, 320u);
  EXPECT_LE(second_elapsed, 480u);
}

TEST_F(PoolTest, OnTooManyConnectionsCalledOncePerTimeoutWithoutTheLock) {
  PoolOptions o = slots(1);
  o.acquire_timeout = 30ms;
  int calls = 0;
  std::uint64_t timeouts_seen_in_callback = 0;
  TestPool* self = nullptr;
  o.on_too_many_connections = [&] {
    ++calls;
    timeouts_seen_in_callback = self->stats().timeouts;  // would deadlock if the lock were held
  };
  auto pool = make_pool(o);
  self = pool.get();
  auto held = pool->acquire();
  for (int i = 1; i <= 3; ++i) {
    EXPECT_THROW(pool->acquire(), PoolTimeoutError);
    EXPECT_EQ(calls, i);
    EXPECT_EQ(timeouts_seen_in_callback, static_cast<std::uint64_t>(i));
  }
  held.reset();
  pool->acquire();  // success: no call
  EXPECT_EQ(calls, 3);
}

// ---------------------------------------------------------------- fairness

// Waiters that each record their turn when served, for the order tests.
class PoolFairnessTest : public PoolTest {
 protected:
  // Queues waiter i on its own thread, strictly after the ones before it.
  // `hold` runs with the lease held once the waiter has recorded its turn.
  void queue_waiter(TestPool& pool, int i, std::function<void()> hold) {
    waiters_.push_back(guarded_thread([this, &pool, i, hold = std::move(hold)] {
      auto lease = pool.acquire();
      record(i);
      hold();
    }));
    EXPECT_TRUE(eventually([&] { return pool.stats().waiting == static_cast<std::size_t>(i + 1); }));
  }

  void record(int i) {
    std::lock_guard<std::mutex> lock(order_mutex_);
    order_.push_back(i);
  }

  bool served(std::size_t n) {
    return eventually([&] {
      std::lock_guard<std::mutex> lock(order_mutex_);
      return order_.size() == n;
    });
  }

  std::vector<int> join_all() {
    for (auto& t : waiters_) {
      t.join();
    }
    return order_;
  }

 private:
  std::mutex order_mutex_;
  std::vector<int> order_;
  std::vector<std::thread> waiters_;
};

TEST_F(PoolFairnessTest, WaitersAreServedFirstComeFirstServedAndNewcomersQueueBehind) {
  auto pool = make_pool(slots(1));
  auto held = pool->acquire();
  constexpr int kWaiters = 6;
  for (int i = 0; i < kWaiters; ++i) {
    queue_waiter(*pool, i, [] { std::this_thread::sleep_for(2ms); });
  }
  held.reset();
  {
    // Arrives while the others are still queued: it must not take the
    // resource that was just released.
    auto newcomer = pool->acquire();
    record(kWaiters);
  }
  EXPECT_EQ(join_all(), (std::vector<int>{0, 1, 2, 3, 4, 5, kWaiters}));
  EXPECT_GT(pool->stats().wait_total, 0ns);
}

TEST_F(PoolFairnessTest, SlotsFreedOneByOneServeWaitersInOrder) {
  auto pool = make_pool(slots(3));
  std::vector<TestPool::Lease> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(pool->acquire());
  }
  constexpr int kWaiters = 5;
  std::atomic<bool> let_go[kWaiters] = {};
  for (int i = 0; i < kWaiters; ++i) {
    queue_waiter(*pool, i, [&let_go, i] {
      while (!let_go[i]) {
        std::this_thread::sleep_for(1ms);  // hold, so each freed slot serves exactly one waiter
      }
    });
  }
  // Every way of freeing a slot, one at a time: release, discard, broken at
  // release, and releases by served waiters.
  held[0].reset();
  EXPECT_TRUE(served(1));
  held[1].discard();
  EXPECT_TRUE(served(2));
  held[2]->broken = true;
  held[2].reset();
  EXPECT_TRUE(served(3));
  let_go[0] = true;
  EXPECT_TRUE(served(4));
  let_go[1] = true;
  EXPECT_TRUE(served(5));
  for (auto& flag : let_go) {
    flag = true;
  }
  EXPECT_EQ(join_all(), (std::vector<int>{0, 1, 2, 3, 4}));
  expect_stats(pool->stats(), {.acquires = 8, .closed_broken = 2});
}

// ---------------------------------------------------------------- no lost wake-ups

class PoolWakeUpTest : public PoolTest {
 protected:
  // Starts a waiter on a full one-slot pool, runs `free_the_slot`, and checks
  // the waiter got a resource long before its 10 s timeout.
  void expect_waiter_woken(TestPool& pool, const std::function<void()>& free_the_slot) {
    std::atomic<bool> got{false};
    std::uint64_t elapsed = 0;
    std::thread waiter = guarded_thread([&] {
      const auto start = Clock::now();
      try {
        auto lease = pool.acquire();
        got = true;
      } catch (const std::exception& e) {
        ADD_FAILURE() << "waiter failed: " << e.what();
      }
      elapsed = ms_since(start);
    });
    EXPECT_TRUE(eventually([&] { return pool.stats().waiting == 1; }));  // not ASSERT: join first
    const auto freed_at = Clock::now();
    free_the_slot();
    waiter.join();
    EXPECT_TRUE(got);
    EXPECT_LT(ms_since(freed_at), 3000u) << "the waiter was not woken; it waited " << elapsed << " ms";
    expect_counters_add_up(pool.stats());
  }

  // A one-slot pool whose only resource is held in `held` while a waiter
  // queues, then freed by `free_it`.
  std::unique_ptr<TestPool> woken_by(const std::function<void(TestPool::Lease& held)>& free_it) {
    auto pool = make_pool(slots(1));
    auto held = pool->acquire();
    expect_waiter_woken(*pool, [&] { free_it(held); });
    return pool;
  }
};

TEST_F(PoolWakeUpTest, ReleaseWakesAWaiter) {
  auto pool = woken_by([](TestPool::Lease& held) { held.reset(); });
  expect_stats(pool->stats(), {.created = 1});  // handed over, not recreated
}

TEST_F(PoolWakeUpTest, DiscardWakesAWaiter) {
  auto pool = woken_by([](TestPool::Lease& held) { held.discard(); });
  expect_stats(pool->stats(), {.created = 2, .closed_broken = 1});
}

TEST_F(PoolWakeUpTest, BrokenReleaseWakesAWaiter) {
  auto pool = woken_by([](TestPool::Lease& held) {
    held->broken = true;
    held.reset();
  });
  expect_stats(pool->stats(), {.closed_broken = 1});
}

TEST_F(PoolWakeUpTest, ConnectionClosedForAgeWakesAWaiter) {
  // The held resource is past max_lifetime when returned: it is closed, and
  // the freed slot must go to the waiter (which creates a fresh one).
  int old_id = 0;
  auto pool = woken_by([&](TestPool::Lease& held) {
    old_id = held->id;
    clock.advance(options().max_lifetime + 1ms);
    held.reset();
  });
  expect_stats(pool->stats(), {.created = 2, .closed_lifetime = 1});
  EXPECT_NE(pool->acquire()->id, old_id);
}

TEST_F(PoolWakeUpTest, FailedCreateWakesAWaiter) {
  // The only slot is taken by an acquire whose create() blocks, then fails.
  Gate gate;
  std::atomic<bool> first_create{true};
  create_gate = [&] {
    if (first_create.exchange(false)) {
      gate.wait();
    }
  };
  auto pool = make_pool(slots(1));
  fail_creates = 1;
  std::atomic<int> creator_errors{0};
  std::thread creator = acquire_expecting<CustomCreateError>(*pool, creator_errors);
  EXPECT_TRUE(eventually([&] { return pool->stats().creating == 1; }));
  expect_waiter_woken(*pool, [&] { gate.open(); });
  creator.join();
  EXPECT_EQ(creator_errors.load(), 1);
  expect_stats(pool->stats(), {.created = 1, .failed_creates = 1});
}

TEST_F(PoolWakeUpTest, ReapedConnectionSlotIsUsableAtOnce) {
  // Idle resources and queued waiters never coexist (a release serves the
  // queue first), so a reap cannot strand a waiter; what it must do is free
  // the slot: a full pool whose only resource was reaped serves the next
  // acquire immediately, and a concurrent reap() never disturbs a waiter.
  auto pool = make_pool(slots(1));
  pool->acquire();  // now idle
  clock.advance(options().idle_timeout + 1ms);
  EXPECT_EQ(pool->reap(), 1u);
  EXPECT_EQ(pool->stats().open, 0u);
  auto held = pool->acquire();
  EXPECT_EQ(pool->stats().created, 2u);
  expect_waiter_woken(*pool, [&] {
    EXPECT_EQ(pool->stats().idle, 0u);  // the invariant: nothing idle while someone waits
    EXPECT_EQ(pool->reap(), 0u);
    held.reset();
  });
}

}  // namespace
}  // namespace redis_session
