// Unit tests for Pool<Resource> with a fake resource and a fake clock
// (tests/support/fake_resource.hpp): options, leases, timeouts, fairness, no
// lost wake-ups, create failures, close and stats. Aging, fork() and the
// stress test have files of their own.

#include "redis_session/pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "redis_session/error.hpp"
#include "support/fake_resource.hpp"

namespace redis_session {
namespace {

using namespace std::chrono_literals;
using namespace test;

// ---------------------------------------------------------------- options

TEST(PoolOptionsTest, DefaultsMatchTheDocumentedValues) {
  const PoolOptions o;
  EXPECT_EQ(o.max_open, 8u);
  EXPECT_EQ(o.max_idle, 4u);
  EXPECT_EQ(o.acquire_timeout, 2000ms);
  EXPECT_EQ(o.idle_timeout, 60000ms);
  EXPECT_EQ(o.max_lifetime, 30min);
  EXPECT_DOUBLE_EQ(o.max_lifetime_jitter, 0.1);
  EXPECT_EQ(o.validate_after, 1000ms);
  EXPECT_FALSE(o.on_too_many_connections);
  EXPECT_NO_THROW(o.validate());
}

TEST(PoolOptionsTest, ValidateNamesTheBadField) {
  const auto expect_rejected = [](const std::function<void(PoolOptions&)>& spoil, const std::string& field) {
    PoolOptions o;
    spoil(o);
    try {
      o.validate();
      ADD_FAILURE() << field << " was accepted";
    } catch (const InvalidOptionsError& e) {
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
      EXPECT_EQ(e.errc(), Errc::invalid_options);
    }
  };
  expect_rejected([](PoolOptions& o) { o.max_open = 0; }, "max_open");
  expect_rejected([](PoolOptions& o) { o.acquire_timeout = 0ms; }, "acquire_timeout");
  expect_rejected([](PoolOptions& o) { o.acquire_timeout = -5ms; }, "acquire_timeout");
  expect_rejected([](PoolOptions& o) { o.idle_timeout = 0ms; }, "idle_timeout");
  expect_rejected([](PoolOptions& o) { o.max_lifetime = 0ms; }, "max_lifetime");
  expect_rejected([](PoolOptions& o) { o.max_lifetime = std::chrono::milliseconds::max(); }, "max_lifetime");
  expect_rejected([](PoolOptions& o) { o.validate_after = 0ms; }, "validate_after");
  expect_rejected([](PoolOptions& o) { o.max_lifetime_jitter = 1.0; }, "max_lifetime_jitter");
  expect_rejected([](PoolOptions& o) { o.max_lifetime_jitter = -0.1; }, "max_lifetime_jitter");

  PoolOptions edge;
  edge.max_idle = 0;  // keep nothing idle: legal
  edge.max_open = 1;
  EXPECT_NO_THROW(edge.validate());
}

TEST_F(PoolTest, MaxIdleAboveMaxOpenMeansMaxOpen) {
  PoolOptions o = slots(2);
  o.max_idle = 50;
  EXPECT_NO_THROW(o.validate());
  TestPool pool(hooks(), o);
  EXPECT_EQ(pool.options().max_idle, 2u);
  {
    auto a = pool.acquire();
    auto b = pool.acquire();
  }
  expect_stats(pool.stats(), {.idle = 2, .closed_surplus = 0});
}

TEST_F(PoolTest, ConstructorValidatesOptionsAndHooks) {
  PoolOptions bad = options();
  bad.max_open = 0;
  EXPECT_THROW(TestPool(hooks(), bad), InvalidOptionsError);

  PoolHooks<FakeConn> no_create = hooks();
  no_create.create = nullptr;
  try {
    TestPool pool(no_create, options());
    ADD_FAILURE() << "a pool without a create hook was accepted";
  } catch (const InvalidOptionsError& e) {
    EXPECT_NE(std::string(e.what()).find("create"), std::string::npos);
  }
}

// ---------------------------------------------------------------- basics

TEST_F(PoolTest, ReleasedResourceIsReused) {
  auto pool = make_pool(options());
  int first_id = 0;
  {
    auto lease = pool->acquire();
    ASSERT_TRUE(lease);
    first_id = lease->id;
    EXPECT_EQ(lease.get(), &*lease);
    EXPECT_EQ(pool->stats().in_use, 1u);
  }
  auto again = pool->acquire();
  EXPECT_EQ(again->id, first_id);
  expect_stats(pool->stats(), {.open = 1, .acquires = 2, .created = 1});
}

TEST_F(PoolTest, IdleResourcesAreReusedMostRecentlyUsedFirst) {
  auto pool = make_pool(slots(3));
  auto a = pool->acquire();
  auto b = pool->acquire();
  auto c = pool->acquire();
  const int a_id = a->id, b_id = b->id, c_id = c->id;
  a.reset();
  c.reset();
  b.reset();  // idle stack, top last: a, c, b
  EXPECT_EQ(pool->acquire()->id, b_id);
  auto x = pool->acquire();
  EXPECT_EQ(x->id, b_id);
  auto y = pool->acquire();
  EXPECT_EQ(y->id, c_id);
  auto z = pool->acquire();
  EXPECT_EQ(z->id, a_id);
}

TEST_F(PoolTest, LeaseIsMoveOnlyAndReturnsOnce) {
  auto pool = make_pool(options());
  auto a = pool->acquire();
  const int id = a->id;
  TestPool::Lease b(std::move(a));
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): checking the moved-from state is the point
  EXPECT_EQ(b->id, id);
  TestPool::Lease c;
  EXPECT_FALSE(c);
  c = std::move(b);
  EXPECT_EQ(c->id, id);
  EXPECT_EQ(pool->stats().in_use, 1u);
  c = pool->acquire();  // the old resource goes back as the new one arrives
  EXPECT_NE(c->id, id);
  expect_stats(pool->stats(), {.idle = 1, .in_use = 1});
  c.reset();
  c.reset();  // idempotent
  expect_stats(pool->stats(), {.idle = 2, .in_use = 0});
}

TEST_F(PoolTest, MaxOpenBoundsOpenResources) {
  PoolOptions o = options();
  o.max_open = 3;
  o.acquire_timeout = 50ms;
  auto pool = make_pool(o);
  std::vector<TestPool::Lease> leases;
  for (int i = 0; i < 3; ++i) {
    leases.push_back(pool->acquire());
  }
  EXPECT_THROW(pool->acquire(), PoolTimeoutError);
  expect_stats(pool->stats(), {.open = 3, .timeouts = 1, .created = 3});
}

TEST_F(PoolTest, MaxIdleClosesSurplusOnRelease) {
  PoolOptions o = slots(4);
  o.max_idle = 1;
  auto pool = make_pool(o);
  std::vector<TestPool::Lease> leases;
  for (int i = 0; i < 4; ++i) {
    leases.push_back(pool->acquire());
  }
  leases.clear();
  expect_stats(pool->stats(), {.idle = 1, .closed_surplus = 3});
  EXPECT_EQ(counters->destroyed.load(), 3);
}

TEST_F(PoolTest, ZeroMaxIdleKeepsNothing) {
  PoolOptions o = options();
  o.max_idle = 0;
  auto pool = make_pool(o);
  pool->acquire();
  pool->acquire();
  expect_stats(pool->stats(), {.idle = 0, .created = 2, .closed_surplus = 2});
}

TEST_F(PoolTest, HooksAndDestructorsRunWithoutThePoolLock) {
  // Every hook calls back into the pool; with the lock held this deadlocks.
  const PoolOptions o = slots(1);
  TestPool* self = nullptr;
  PoolHooks<FakeConn> h;
  std::atomic<int> reentered{0};
  const auto reenter = [&] {
    self->stats();
    ++reentered;
  };
  h.create = [&] {
    self->stats();
    auto c = new_conn();
    c->on_destroy = reenter;
    ++reentered;
    return c;
  };
  h.validate = [&](FakeConn&) {
    reenter();
    return false;
  };
  h.is_broken = [&](const FakeConn&) {
    reenter();
    return false;
  };
  h.now = [&] {
    ++reentered;
    return clock.now();
  };
  TestPool pool(h, o);
  self = &pool;
  pool.acquire();  // create, is_broken
  clock.advance(o.validate_after + 1ms);
  pool.acquire();  // validate fails: destroy and create
  clock.advance(o.idle_timeout + 1ms);
  EXPECT_EQ(pool.reap(), 1u);  // destroy
  EXPECT_GE(reentered.load(), 8);
  EXPECT_EQ(counters->destroyed.load(), 2);
}

TEST_F(PoolTest, BrokenResourceIsClosedAtRelease) {
  auto pool = make_pool(options());
  int id = 0;
  {
    auto lease = pool->acquire();
    id = lease->id;
    lease->broken = true;
  }
  expect_stats(pool->stats(), {.open = 0, .idle = 0, .closed_broken = 1});
  EXPECT_EQ(counters->destroyed.load(), 1);
  EXPECT_NE(pool->acquire()->id, id);
}

TEST_F(PoolTest, DiscardClosesAndFreesTheSlotNow) {
  auto pool = make_pool(slots(1));
  auto lease = pool->acquire();
  lease.discard();
  EXPECT_FALSE(lease);
  EXPECT_EQ(counters->destroyed.load(), 1);
  expect_stats(pool->stats(), {.open = 0, .closed_broken = 1});
  auto next = pool->acquire();  // the only slot is free again
  EXPECT_EQ(next->id, 2);
}

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

// ---------------------------------------------------------------- create failures

TEST_F(PoolTest, CreateErrorPropagatesUnchangedAndFreesTheSlot) {
  PoolOptions o = slots(1);
  o.acquire_timeout = 100ms;
  PoolHooks<FakeConn> h = hooks();
  int attempt = 0;
  h.create = [&]() -> std::unique_ptr<FakeConn> {
    switch (++attempt) {
      case 1:
        throw CustomCreateError{7};
      case 2:
        throw ConnectError("connect to 127.0.0.1:1 failed");
      case 3:
        return nullptr;
      default:
        return std::make_unique<FakeConn>(attempt, counters);
    }
  };
  TestPool pool(h, o);
  try {
    pool.acquire();
    ADD_FAILURE() << "no exception";
  } catch (const CustomCreateError& e) {
    EXPECT_EQ(e.code, 7);
  }
  try {
    pool.acquire();
    ADD_FAILURE() << "no exception";
  } catch (const ConnectError& e) {
    EXPECT_EQ(e.errc(), Errc::connect_failed);
    EXPECT_STREQ(e.what(), "connect to 127.0.0.1:1 failed");
  }
  EXPECT_THROW(pool.acquire(), InvalidOptionsError);  // a null resource is a broken hook
  expect_stats(pool.stats(), {.open = 0, .creating = 0, .acquires = 0, .failed_creates = 3});
  auto lease = pool.acquire();  // max_open = 1: a leaked slot would time out here
  EXPECT_EQ(lease->id, 4);
  expect_counters_add_up(pool.stats());
}

TEST_F(PoolTest, ValidateReplacementCreateFailureFreesTheSlot) {
  PoolOptions o = slots(1);
  o.acquire_timeout = 100ms;
  auto pool = make_pool(o);
  {
    auto lease = pool->acquire();
    lease->alive = false;
  }
  clock.advance(o.validate_after + 1ms);
  fail_creates = 1;
  EXPECT_THROW(pool->acquire(), CustomCreateError);
  const PoolStats s = pool->stats();
  expect_stats(s, {.failed_creates = 1, .closed_broken = 1});
  EXPECT_EQ(s.open + s.creating, 0u);
  pool->acquire();
  expect_counters_add_up(pool->stats());
}

// ---------------------------------------------------------------- close and lifetime

TEST_F(PoolTest, CloseFailsWaitersPromptly) {
  auto pool = make_pool(slots(1));
  auto held = pool->acquire();
  std::atomic<int> closed_errors{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < 3; ++i) {
    waiters.push_back(acquire_expecting<PoolClosedError>(
        *pool, closed_errors, [](const PoolClosedError& e) { EXPECT_EQ(e.errc(), Errc::pool_closed); }));
  }
  EXPECT_TRUE(eventually([&] { return pool->stats().waiting == 3; }));
  const auto start = Clock::now();
  pool->close();
  for (auto& t : waiters) {
    t.join();
  }
  EXPECT_LT(ms_since(start), 2000u);  // not their 10 s acquire_timeout
  EXPECT_EQ(closed_errors.load(), 3);
  EXPECT_THROW(pool->acquire(), PoolClosedError);
  pool->close();  // idempotent
}

TEST_F(PoolTest, CloseClosesIdleNowAndLeasesWhenReturned) {
  auto pool = make_pool(options());
  auto out = pool->acquire();
  pool->acquire();  // idle
  pool->close();
  EXPECT_EQ(counters->destroyed.load(), 1);
  expect_stats(pool->stats(), {.in_use = 1, .closed_pool = 1});
  EXPECT_GT(out->id, 0);  // still usable
  out.reset();
  EXPECT_EQ(counters->destroyed.load(), 2);
  expect_stats(pool->stats(), {.open = 0, .closed_pool = 2});
  EXPECT_EQ(pool->reap(), 0u);  // harmless after close
}

TEST_F(PoolTest, LeaseOutlivesThePool) {
  auto pool = make_pool(options());
  auto lease = pool->acquire();
  auto other = pool->acquire();
  other->broken = true;
  pool.reset();  // destroys the Pool; the leases keep its state alive
  EXPECT_EQ(counters->destroyed.load(), 0);
  lease->broken = false;
  other.reset();
  EXPECT_EQ(counters->destroyed.load(), 1);
  lease.reset();  // the last one frees the state (ASan checks it is freed exactly once)
  EXPECT_EQ(counters->destroyed.load(), 2);
}

TEST_F(PoolTest, DestroyingThePoolFailsItsWaiters) {
  auto pool = make_pool(slots(1));
  auto held = pool->acquire();
  std::atomic<int> closed_errors{0};
  std::thread waiter = acquire_expecting<PoolClosedError>(*pool, closed_errors);
  EXPECT_TRUE(eventually([&] { return pool->stats().waiting == 1; }));
  const auto start = Clock::now();
  pool.reset();
  waiter.join();
  EXPECT_EQ(closed_errors.load(), 1);
  EXPECT_LT(ms_since(start), 2000u);
  held.reset();
  EXPECT_EQ(counters->destroyed.load(), 1);
}

TEST_F(PoolTest, CloseDuringCreateFailsThatAcquire) {
  Gate gate;
  create_gate = [&] { gate.wait(); };
  auto pool = make_pool(options());
  std::atomic<int> closed_errors{0};
  std::thread creator = acquire_expecting<PoolClosedError>(*pool, closed_errors);
  EXPECT_TRUE(eventually([&] { return pool->stats().creating == 1; }));
  pool->close();
  gate.open();
  creator.join();
  EXPECT_EQ(closed_errors.load(), 1);
  expect_stats(pool->stats(), {.created = 1, .closed_pool = 1});
  EXPECT_EQ(counters->destroyed.load(), 1);
}

// ---------------------------------------------------------------- stats

TEST_F(PoolTest, StatsAddUpAcrossEveryCloseReason) {
  PoolOptions o = slots(4);
  o.max_idle = 1;
  o.max_lifetime = 10min;
  o.idle_timeout = 5min;
  auto pool = make_pool(o);
  {
    auto a = pool->acquire();
    auto b = pool->acquire();
    auto c = pool->acquire();
    b->broken = true;
  }  // c idle, b broken, a surplus
  expect_stats(pool->stats(), {.closed_broken = 1, .closed_surplus = 1});
  clock.advance(5min + 1ms);
  EXPECT_EQ(pool->reap(), 1u);  // idle
  {
    auto d = pool->acquire();
    clock.advance(10min + 1ms);
  }  // lifetime
  auto e = pool->acquire();
  pool->acquire();                   // e holds one; this one goes idle
  EXPECT_EQ(pool->drop_idle(), 1u);  // dropped
  pool->acquire();                   // goes idle
  pool->close();                     // pool: the idle one now, e when returned
  e.reset();
  const PoolStats s = pool->stats();
  expect_stats(s, {.open = 0,
                   .acquires = 7,
                   .created = 7,
                   .closed_idle = 1,
                   .closed_lifetime = 1,
                   .closed_pool = 2,
                   .closed_dropped = 1});
  EXPECT_EQ(static_cast<std::uint64_t>(counters->destroyed.load()), s.closed_total());
}

}  // namespace
}  // namespace redis_session
