// Pool aging with a fake resource and a fake clock: idle_timeout (reap() and
// the background reaper), max_lifetime and its jitter, validate_after, and
// drop_idle().

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <vector>

#include "redis_session/pool.hpp"
#include "support/fake_resource.hpp"

namespace redis_session {
namespace {

using namespace std::chrono_literals;
using namespace test;

TEST_F(PoolTest, ReapClosesOnlyResourcesIdleLongerThanIdleTimeout) {
  PoolOptions o = slots(3);
  o.idle_timeout = 10min;
  auto pool = make_pool(o);
  auto a = pool->acquire();
  auto b = pool->acquire();
  a.reset();  // idle since t0
  clock.advance(5min);
  b.reset();  // idle since t0 + 5 min
  clock.advance(5min - 1ms);
  EXPECT_EQ(pool->reap(), 0u);
  clock.advance(2ms);
  EXPECT_EQ(pool->reap(), 1u);  // a only
  expect_stats(pool->stats(), {.idle = 1, .closed_idle = 1});
  clock.advance(5min);
  EXPECT_EQ(pool->reap(), 1u);
  expect_stats(pool->stats(), {.open = 0, .closed_idle = 2});
  EXPECT_EQ(counters->destroyed.load(), 2);
}

TEST_F(PoolTest, BackgroundReaperClosesIdleResourcesWithoutTraffic) {
  PoolOptions o = options();
  o.idle_timeout = 150ms;
  auto pool = make_pool(o, /*fake_clock=*/false);
  const auto start = Clock::now();
  {
    auto a = pool->acquire();
    auto b = pool->acquire();
  }
  EXPECT_EQ(pool->stats().idle, 2u);
  ASSERT_TRUE(eventually([&] { return pool->stats().closed_idle == 2; }, 10s));
  // Idle time is measured on a coarse clock (a few ms resolution).
  EXPECT_GE(ms_since(start), 130u);
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.open, 0u);
  // The reaper counts under the lock and destroys after releasing it, so the
  // destructors may still be running when the counter already says 2.
  EXPECT_TRUE(eventually([&] { return counters->destroyed.load() == 2; }, 10s));
  expect_counters_add_up(s);
  // The pool still works afterwards, and the reaper keeps going.
  pool->acquire();
  ASSERT_TRUE(eventually([&] { return pool->stats().closed_idle == 3; }, 10s));
}

TEST_F(PoolTest, MaxLifetimeReplacesAtRelease) {
  PoolOptions o = options();
  o.max_lifetime = 10min;
  auto pool = make_pool(o);
  auto lease = pool->acquire();
  const int old_id = lease->id;
  clock.advance(10min + 1ms);  // expires while in use: not touched mid-use
  EXPECT_EQ(lease->id, old_id);
  EXPECT_EQ(counters->destroyed.load(), 0);
  lease.reset();
  expect_stats(pool->stats(), {.idle = 0, .closed_lifetime = 1});
  EXPECT_EQ(counters->destroyed.load(), 1);
  EXPECT_NE(pool->acquire()->id, old_id);
  expect_counters_add_up(pool->stats());
}

TEST_F(PoolTest, MaxLifetimeReplacesAtAcquire) {
  PoolOptions o = options();
  o.max_lifetime = 10min;
  auto pool = make_pool(o);
  int old_id = 0;
  {
    auto lease = pool->acquire();
    old_id = lease->id;
  }
  clock.advance(10min - 1ms);
  {
    auto lease = pool->acquire();
    EXPECT_EQ(lease->id, old_id);  // not yet
  }
  clock.advance(2ms);
  auto lease = pool->acquire();  // idle past its lifetime: replaced transparently
  EXPECT_NE(lease->id, old_id);
  expect_stats(pool->stats(), {.acquires = 3, .created = 2, .closed_lifetime = 1});
}

TEST_F(PoolTest, MaxLifetimeJitterSpreadsExpiriesBelowTheLimit) {
  PoolOptions o = slots(40);
  o.max_lifetime = 1000s;
  o.max_lifetime_jitter = 0.5;
  o.idle_timeout = 10000s;
  auto pool = make_pool(o);
  {
    std::vector<TestPool::Lease> leases;
    for (int i = 0; i < 40; ++i) {
      leases.push_back(pool->acquire());
    }
  }
  clock.advance(500s - 1ms);  // nobody's lifetime is cut by more than 50%
  EXPECT_EQ(pool->reap(), 0u);
  clock.advance(250s);
  const std::size_t early = pool->reap();  // those cut by more than 25%
  EXPECT_GT(early, 0u);
  EXPECT_LT(early, 40u);
  clock.advance(250s + 2ms);  // nobody lives past max_lifetime
  EXPECT_EQ(early + pool->reap(), 40u);
  EXPECT_EQ(pool->stats().closed_lifetime, 40u);
}

TEST_F(PoolTest, ValidateOnlyResourcesIdleLongerThanValidateAfter) {
  PoolOptions o = options();
  o.validate_after = 5s;
  auto pool = make_pool(o);
  pool->acquire();  // a fresh resource is never validated
  EXPECT_EQ(counters->validations.load(), 0);
  clock.advance(5s - 1ms);
  pool->acquire();
  EXPECT_EQ(counters->validations.load(), 0);
  clock.advance(5s + 1ms);
  int id = 0;
  {
    auto lease = pool->acquire();
    id = lease->id;
    EXPECT_EQ(counters->validations.load(), 1);
  }
  {
    auto lease = pool->acquire();  // just released: no check
    EXPECT_EQ(lease->id, id);
    EXPECT_EQ(counters->validations.load(), 1);
  }
  EXPECT_EQ(pool->stats().created, 1u);
}

TEST_F(PoolTest, DeadResourceFoundByValidateIsReplacedTransparently) {
  const PoolOptions o = slots(3);
  auto pool = make_pool(o);
  {
    auto a = pool->acquire();
    auto b = pool->acquire();
    a->alive = false;  // e.g. the server restarted: both idle ones are dead
    b->alive = false;
  }
  clock.advance(o.validate_after + 1ms);
  auto lease = pool->acquire();
  EXPECT_EQ(lease->id, 3);
  EXPECT_TRUE(lease->alive);
  EXPECT_EQ(counters->validations.load(), 2);
  expect_stats(pool->stats(), {.open = 1, .acquires = 3, .closed_broken = 2});
}

TEST_F(PoolTest, DropIdleClosesEveryIdleResourceNow) {
  auto pool = make_pool(slots(3));
  auto kept = pool->acquire();
  {
    auto a = pool->acquire();
    auto b = pool->acquire();
  }
  EXPECT_EQ(pool->drop_idle(), 2u);
  EXPECT_EQ(counters->destroyed.load(), 2);
  expect_stats(pool->stats(), {.idle = 0, .in_use = 1, .closed_dropped = 2});
  EXPECT_EQ(pool->acquire()->id, 4);  // a fresh one, not a dropped one
  kept.reset();                       // leases out are not affected
  EXPECT_EQ(pool->stats().idle, 2u);
  EXPECT_EQ(pool->drop_idle(), 2u);
  EXPECT_EQ(pool->drop_idle(), 0u);
}

}  // namespace
}  // namespace redis_session
