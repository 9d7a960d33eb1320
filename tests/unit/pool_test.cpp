// Unit tests for Pool<Resource> with a fake resource and a fake clock
// (tests/support/fake_resource.hpp): options, leases, create failures, close
// and stats. Waiting, aging, fork() and the stress test have files of their
// own.

#include "redis_session/pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
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
