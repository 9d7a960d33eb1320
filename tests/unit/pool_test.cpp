// Unit tests for Pool<Resource> with a fake resource and a fake clock: no
// Redis server. Timing tests measure with steady_clock and keep margins that
// hold on a loaded two-core machine; "must be woken" tests give the waiter a
// long acquire_timeout and require it to succeed quickly, so a lost wake-up
// shows up as a failure rather than as a slow pass.

#include "redis_session/pool.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "redis_session/error.hpp"

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define POOL_TEST_SANITIZED 1
#endif
#if defined(__SANITIZE_THREAD__)
#define POOL_TEST_TSAN 1
#endif
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define POOL_TEST_SANITIZED 1
#define POOL_TEST_TSAN 1
#endif
#if __has_feature(address_sanitizer)
#define POOL_TEST_SANITIZED 1
#endif
#endif

#if defined(POOL_TEST_TSAN)
// The fork test starts threads in a child of a multi-threaded process (the
// pool restarts its reaper there), which TSan refuses by default.
extern "C" const char* __tsan_default_options() {
  return "die_after_fork=0";
}
#if !defined(__clang__)
// GCC 12's libtsan keeps the parent's threads registered in the child; glibc
// gives the child's new reaper a recycled stack, hence the same pthread_t, and
// joining it then aborts in TSan ("dup thread with used id"). Clang's runtime
// and plain builds are fine; under GCC's TSan the child leaves its pools to
// _exit instead of destroying them.
#define POOL_TEST_NO_JOIN_IN_FORKED_CHILD 1
#endif
#endif

namespace redis_session {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Shared by every fake connection a fixture creates; outlives the pool.
struct Counters {
  std::atomic<int> next_id{0};
  std::atomic<int> destroyed{0};
  std::atomic<int> validations{0};
};

struct FakeConn {
  FakeConn(int conn_id, std::shared_ptr<Counters> c) : id(conn_id), pid(::getpid()), counters(std::move(c)) {}
  ~FakeConn() {
    if (on_destroy) {
      on_destroy();
    }
    counters->destroyed.fetch_add(1);
  }
  FakeConn(const FakeConn&) = delete;
  FakeConn& operator=(const FakeConn&) = delete;

  const int id;
  const pid_t pid;
  std::shared_ptr<Counters> counters;
  bool broken = false;              // read by the is_broken hook
  bool alive = true;                // read by the validate hook
  std::atomic<bool> leased{false};  // the stress test checks exclusive use
  std::function<void()> on_destroy;
};

struct CustomCreateError {
  int code;
};

// Aging decisions read this; tests move it forward by hand.
class FakeClock {
 public:
  Clock::time_point now() const {
    reads_.fetch_add(1);
    return base_ + std::chrono::nanoseconds(offset_ns_.load());
  }
  void advance(std::chrono::nanoseconds d) { offset_ns_.fetch_add(d.count()); }
  int reads() const { return reads_.load(); }

 private:
  const Clock::time_point base_ = Clock::now();
  std::atomic<std::int64_t> offset_ns_{0};
  mutable std::atomic<int> reads_{0};
};

using TestPool = Pool<FakeConn>;

std::uint64_t ms_since(Clock::time_point start) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count());
}

// Polls until pred() holds or `limit` passes; returns pred().
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 5000ms) {
  const auto deadline = Clock::now() + limit;
  while (!pred()) {
    if (Clock::now() >= deadline) {
      return pred();
    }
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// A thread whose unexpected exception fails the test instead of calling
// std::terminate (a lost wake-up shows up as a PoolTimeoutError in a waiter).
template <class Body>
std::thread guarded_thread(Body body) {
  return std::thread([body = std::move(body)]() mutable {
    try {
      body();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "unexpected exception in a test thread: " << e.what();
    }
  });
}

void expect_counters_add_up(const PoolStats& s) {
  EXPECT_EQ(s.created, s.open + s.closed_total())
      << "open=" << s.open << ", closed: idle=" << s.closed_idle << " lifetime=" << s.closed_lifetime
      << " broken=" << s.closed_broken << " surplus=" << s.closed_surplus << " pool=" << s.closed_pool
      << " dropped=" << s.closed_dropped << " fork=" << s.closed_fork;
  EXPECT_EQ(s.open, s.idle + s.in_use);
}

class PoolTest : public ::testing::Test {
 protected:
  // Tests mostly use the fake clock; idle_timeout is long in real time too so
  // the background reaper never fires during a test that drives reap() itself.
  PoolOptions options() const {
    PoolOptions o;
    o.max_open = 2;
    o.max_idle = 2;
    o.acquire_timeout = 10s;
    o.idle_timeout = 1h;
    o.max_lifetime = 2h;
    o.max_lifetime_jitter = 0.0;
    o.validate_after = 1s;
    return o;
  }

  PoolHooks<FakeConn> hooks(bool fake_clock = true) {
    PoolHooks<FakeConn> h;
    h.create = [this]() -> std::unique_ptr<FakeConn> {
      if (create_gate) {
        create_gate();
      }
      if (fail_creates.load() > 0) {
        fail_creates.fetch_sub(1);
        throw CustomCreateError{42};
      }
      return std::make_unique<FakeConn>(counters->next_id.fetch_add(1) + 1, counters);
    };
    h.validate = [this](FakeConn& c) {
      counters->validations.fetch_add(1);
      return c.alive;
    };
    h.is_broken = [](const FakeConn& c) { return c.broken; };
    if (fake_clock) {
      h.now = [this] { return clock.now(); };
    }
    return h;
  }

  std::unique_ptr<TestPool> make_pool(PoolOptions o, bool fake_clock = true) {
    return std::make_unique<TestPool>(hooks(fake_clock), std::move(o));
  }

  std::shared_ptr<Counters> counters = std::make_shared<Counters>();
  FakeClock clock;
  std::atomic<int> fail_creates{0};
  std::function<void()> create_gate;  // set before the pool is used by other threads
};

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
  PoolOptions o = options();
  o.max_open = 2;
  o.max_idle = 50;
  EXPECT_NO_THROW(o.validate());
  TestPool pool(hooks(), o);
  EXPECT_EQ(pool.options().max_idle, 2u);
  {
    auto a = pool.acquire();
    auto b = pool.acquire();
  }
  EXPECT_EQ(pool.stats().idle, 2u);
  EXPECT_EQ(pool.stats().closed_surplus, 0u);
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
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.created, 1u);
  EXPECT_EQ(s.acquires, 2u);
  EXPECT_EQ(s.open, 1u);
  expect_counters_add_up(s);
}

TEST_F(PoolTest, IdleResourcesAreReusedMostRecentlyUsedFirst) {
  PoolOptions o = options();
  o.max_open = 3;
  o.max_idle = 3;
  auto pool = make_pool(o);
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
  EXPECT_EQ(pool->stats().in_use, 1u);
  EXPECT_EQ(pool->stats().idle, 1u);
  c.reset();
  c.reset();  // idempotent
  EXPECT_EQ(pool->stats().in_use, 0u);
  EXPECT_EQ(pool->stats().idle, 2u);
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
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.open, 3u);
  EXPECT_EQ(s.created, 3u);
  EXPECT_EQ(s.timeouts, 1u);
}

TEST_F(PoolTest, MaxIdleClosesSurplusOnRelease) {
  PoolOptions o = options();
  o.max_open = 4;
  o.max_idle = 1;
  auto pool = make_pool(o);
  std::vector<TestPool::Lease> leases;
  for (int i = 0; i < 4; ++i) {
    leases.push_back(pool->acquire());
  }
  leases.clear();
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.idle, 1u);
  EXPECT_EQ(s.closed_surplus, 3u);
  EXPECT_EQ(counters->destroyed.load(), 3);
  expect_counters_add_up(s);
}

TEST_F(PoolTest, ZeroMaxIdleKeepsNothing) {
  PoolOptions o = options();
  o.max_idle = 0;
  auto pool = make_pool(o);
  pool->acquire();
  pool->acquire();
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.idle, 0u);
  EXPECT_EQ(s.created, 2u);
  EXPECT_EQ(s.closed_surplus, 2u);
}

// ---------------------------------------------------------------- timeouts

TEST_F(PoolTest, AcquireTimesOutWithinTwentyPercent) {
  PoolOptions o = options();
  o.max_open = 1;
  o.max_idle = 1;
  o.acquire_timeout = 400ms;
  auto pool = make_pool(o);
  auto held = pool->acquire();
  const auto start = Clock::now();
  EXPECT_THROW(pool->acquire(), PoolTimeoutError);
  const auto elapsed = ms_since(start);
  EXPECT_GE(elapsed, 320u);
  EXPECT_LE(elapsed, 480u);
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.timeouts, 1u);
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_GE(s.wait_max, 320ms);
  EXPECT_GE(s.wait_total, s.wait_max);
}

TEST_F(PoolTest, TimeoutErrorIsAPoolErrorWithItsCode) {
  PoolOptions o = options();
  o.max_open = 1;
  o.max_idle = 1;
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
  PoolOptions o = options();
  o.max_open = 1;
  o.max_idle = 1;
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
  std::uint64_t second_elapsed = 0;
  bool second_timed_out = false;
  std::thread second = guarded_thread([&] {
    const auto start = Clock::now();
    try {
      pool->acquire();
    } catch (const PoolTimeoutError&) {
      second_timed_out = true;
    }
    second_elapsed = ms_since(start);
  });
  EXPECT_TRUE(eventually([&] { return pool->stats().waiting == 2; }));
  std::this_thread::sleep_for(200ms);
  held.reset();  // serves `first`; `second` keeps waiting
  first.join();
  second.join();
  EXPECT_TRUE(first_served);
  EXPECT_TRUE(second_timed_out);
  EXPECT_GE(second_elapsed, 320u);
  EXPECT_LE(second_elapsed, 480u);
}

TEST_F(PoolTest, OnTooManyConnectionsCalledOncePerTimeoutWithoutTheLock) {
  PoolOptions o = options();
  o.max_open = 1;
  o.max_idle = 1;
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

TEST_F(PoolTest, WaitersAreServedFirstComeFirstServedAndNewcomersQueueBehind) {
  PoolOptions o = options();
  o.max_open = 1;
  o.max_idle = 1;
  auto pool = make_pool(o);
  auto held = pool->acquire();
  std::mutex order_mutex;
  std::vector<int> order;
  std::vector<std::thread> waiters;
  constexpr int kWaiters = 6;
  for (int i = 0; i < kWaiters; ++i) {
    waiters.push_back(guarded_thread([&, i] {
      auto lease = pool->acquire();
      {
        std::lock_guard<std::mutex> lock(order_mutex);
        order.push_back(i);
      }
      std::this_thread::sleep_for(2ms);
    }));
    // Enqueue strictly one after another.
    EXPECT_TRUE(eventually([&] { return pool->stats().waiting == static_cast<std::size_t>(i + 1); }));
  }
  held.reset();
  {
    // Arrives while the others are still queued: it must not take the
    // resource that was just released.
    auto newcomer = pool->acquire();
    std::lock_guard<std::mutex> lock(order_mutex);
    order.push_back(kWaiters);
  }
  for (auto& t : waiters) {
    t.join();
  }
  const std::vector<int> expected{0, 1, 2, 3, 4, 5, kWaiters};
  EXPECT_EQ(order, expected);
  EXPECT_GT(pool->stats().wait_total, 0ns);
}

TEST_F(PoolTest, SlotsFreedOneByOneServeWaitersInOrder) {
  PoolOptions o = options();
  o.max_open = 3;
  o.max_idle = 3;
  auto pool = make_pool(o);
  std::vector<TestPool::Lease> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(pool->acquire());
  }
  constexpr int kWaiters = 5;
  std::mutex m;
  std::vector<int> order;
  std::vector<std::thread> waiters;
  std::atomic<bool> let_go[kWaiters] = {};
  const auto served = [&](std::size_t n) {
    return eventually([&] {
      std::lock_guard<std::mutex> lock(m);
      return order.size() == n;
    });
  };
  for (int i = 0; i < kWaiters; ++i) {
    waiters.push_back(guarded_thread([&, i] {
      auto lease = pool->acquire();
      {
        std::lock_guard<std::mutex> lock(m);
        order.push_back(i);
      }
      while (!let_go[i]) {
        std::this_thread::sleep_for(1ms);  // hold, so each freed slot serves exactly one waiter
      }
    }));
    EXPECT_TRUE(eventually([&] { return pool->stats().waiting == static_cast<std::size_t>(i + 1); }));
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
  for (auto& t : waiters) {
    t.join();
  }
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.closed_broken, 2u);
  EXPECT_EQ(s.acquires, 8u);
  expect_counters_add_up(s);
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

  PoolOptions one_slot() const {
    PoolOptions o = options();
    o.max_open = 1;
    o.max_idle = 1;
    return o;
  }
};

TEST_F(PoolWakeUpTest, ReleaseWakesAWaiter) {
  auto pool = make_pool(one_slot());
  auto held = pool->acquire();
  expect_waiter_woken(*pool, [&] { held.reset(); });
  EXPECT_EQ(pool->stats().created, 1u);  // handed over, not recreated
}

TEST_F(PoolWakeUpTest, DiscardWakesAWaiter) {
  auto pool = make_pool(one_slot());
  auto held = pool->acquire();
  expect_waiter_woken(*pool, [&] { held.discard(); });
  EXPECT_EQ(pool->stats().created, 2u);
  EXPECT_EQ(pool->stats().closed_broken, 1u);
}

TEST_F(PoolWakeUpTest, BrokenReleaseWakesAWaiter) {
  auto pool = make_pool(one_slot());
  auto held = pool->acquire();
  held->broken = true;
  expect_waiter_woken(*pool, [&] { held.reset(); });
  EXPECT_EQ(pool->stats().closed_broken, 1u);
}

TEST_F(PoolWakeUpTest, FailedCreateWakesAWaiter) {
  // The only slot is taken by an acquire whose create() blocks, then fails.
  std::mutex gate_mutex;
  std::condition_variable gate_cv;
  bool gate_open = false;
  bool first_create = true;
  create_gate = [&] {
    std::unique_lock<std::mutex> lock(gate_mutex);
    if (std::exchange(first_create, false)) {
      gate_cv.wait(lock, [&] { return gate_open; });
    }
  };
  auto pool = make_pool(one_slot());
  fail_creates = 1;
  bool creator_got_error = false;
  std::thread creator = guarded_thread([&] {
    try {
      pool->acquire();
    } catch (const CustomCreateError&) {
      creator_got_error = true;
    }
  });
  EXPECT_TRUE(eventually([&] { return pool->stats().creating == 1; }));
  expect_waiter_woken(*pool, [&] {
    std::lock_guard<std::mutex> lock(gate_mutex);
    gate_open = true;
    gate_cv.notify_all();
  });
  creator.join();
  EXPECT_TRUE(creator_got_error);
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.failed_creates, 1u);
  EXPECT_EQ(s.created, 1u);
}

TEST_F(PoolWakeUpTest, ConnectionClosedForAgeWakesAWaiter) {
  // The held resource is past max_lifetime when returned: it is closed, and
  // the freed slot must go to the waiter (which creates a fresh one).
  auto pool = make_pool(one_slot());
  auto held = pool->acquire();
  const int old_id = held->id;
  expect_waiter_woken(*pool, [&] {
    clock.advance(options().max_lifetime + 1ms);
    held.reset();
  });
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.closed_lifetime, 1u);
  EXPECT_EQ(s.created, 2u);
  EXPECT_NE(pool->acquire()->id, old_id);
}

TEST_F(PoolWakeUpTest, ReapedConnectionSlotIsUsableAtOnce) {
  // Idle resources and queued waiters never coexist (a release serves the
  // queue first), so a reap cannot strand a waiter; what it must do is free
  // the slot: a full pool whose only resource was reaped serves the next
  // acquire immediately, and a concurrent reap() never disturbs a waiter.
  auto pool = make_pool(one_slot());
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

// ---------------------------------------------------------------- aging

TEST_F(PoolTest, ReapClosesOnlyResourcesIdleLongerThanIdleTimeout) {
  PoolOptions o = options();
  o.max_open = 3;
  o.max_idle = 3;
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
  PoolStats s = pool->stats();
  EXPECT_EQ(s.closed_idle, 1u);
  EXPECT_EQ(s.idle, 1u);
  clock.advance(5min);
  EXPECT_EQ(pool->reap(), 1u);
  s = pool->stats();
  EXPECT_EQ(s.closed_idle, 2u);
  EXPECT_EQ(s.open, 0u);
  EXPECT_EQ(counters->destroyed.load(), 2);
  expect_counters_add_up(s);
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
  PoolStats s = pool->stats();
  EXPECT_EQ(s.closed_lifetime, 1u);
  EXPECT_EQ(s.idle, 0u);
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
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.closed_lifetime, 1u);
  EXPECT_EQ(s.created, 2u);
  EXPECT_EQ(s.acquires, 3u);
  expect_counters_add_up(s);
}

TEST_F(PoolTest, MaxLifetimeJitterSpreadsExpiriesBelowTheLimit) {
  PoolOptions o = options();
  o.max_open = 40;
  o.max_idle = 40;
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
  PoolOptions o = options();
  o.max_open = 3;
  o.max_idle = 3;
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
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.closed_broken, 2u);
  EXPECT_EQ(s.acquires, 3u);
  EXPECT_EQ(s.open, 1u);
  expect_counters_add_up(s);
}

TEST_F(PoolTest, HooksAndDestructorsRunWithoutThePoolLock) {
  // Every hook calls back into the pool; with the lock held this deadlocks.
  PoolOptions o = options();
  o.max_open = 1;
  o.max_idle = 1;
  TestPool* self = nullptr;
  PoolHooks<FakeConn> h;
  std::atomic<int> reentered{0};
  h.create = [&] {
    self->stats();
    auto c = std::make_unique<FakeConn>(counters->next_id.fetch_add(1) + 1, counters);
    c->on_destroy = [&] {
      self->stats();
      ++reentered;
    };
    ++reentered;
    return c;
  };
  h.validate = [&](FakeConn&) {
    self->stats();
    ++reentered;
    return false;
  };
  h.is_broken = [&](const FakeConn&) {
    self->stats();
    ++reentered;
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
  PoolStats s = pool->stats();
  EXPECT_EQ(s.closed_broken, 1u);
  EXPECT_EQ(s.idle, 0u);
  EXPECT_EQ(s.open, 0u);
  EXPECT_EQ(counters->destroyed.load(), 1);
  EXPECT_NE(pool->acquire()->id, id);
}

TEST_F(PoolTest, DiscardClosesAndFreesTheSlotNow) {
  PoolOptions o = options();
  o.max_open = 1;
  o.max_idle = 1;
  auto pool = make_pool(o);
  auto lease = pool->acquire();
  lease.discard();
  EXPECT_FALSE(lease);
  EXPECT_EQ(counters->destroyed.load(), 1);
  PoolStats s = pool->stats();
  EXPECT_EQ(s.closed_broken, 1u);
  EXPECT_EQ(s.open, 0u);
  auto next = pool->acquire();  // the only slot is free again
  EXPECT_EQ(next->id, 2);
}

TEST_F(PoolTest, DropIdleClosesEveryIdleResourceNow) {
  PoolOptions o = options();
  o.max_open = 3;
  o.max_idle = 3;
  auto pool = make_pool(o);
  auto kept = pool->acquire();
  {
    auto a = pool->acquire();
    auto b = pool->acquire();
  }
  EXPECT_EQ(pool->drop_idle(), 2u);
  EXPECT_EQ(counters->destroyed.load(), 2);
  PoolStats s = pool->stats();
  EXPECT_EQ(s.closed_dropped, 2u);
  EXPECT_EQ(s.idle, 0u);
  EXPECT_EQ(s.in_use, 1u);
  expect_counters_add_up(s);
  EXPECT_EQ(pool->acquire()->id, 4);  // a fresh one, not a dropped one
  kept.reset();                       // leases out are not affected
  EXPECT_EQ(pool->stats().idle, 2u);
  EXPECT_EQ(pool->drop_idle(), 2u);
  EXPECT_EQ(pool->drop_idle(), 0u);
}

// ---------------------------------------------------------------- create failures

TEST_F(PoolTest, CreateErrorPropagatesUnchangedAndFreesTheSlot) {
  PoolOptions o = options();
  o.max_open = 1;
  o.max_idle = 1;
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
  PoolStats s = pool.stats();
  EXPECT_EQ(s.failed_creates, 3u);
  EXPECT_EQ(s.creating, 0u);
  EXPECT_EQ(s.open, 0u);
  EXPECT_EQ(s.acquires, 0u);
  auto lease = pool.acquire();  // max_open = 1: a leaked slot would time out here
  EXPECT_EQ(lease->id, 4);
  expect_counters_add_up(pool.stats());
}

TEST_F(PoolTest, ValidateReplacementCreateFailureFreesTheSlot) {
  PoolOptions o = options();
  o.max_open = 1;
  o.max_idle = 1;
  o.acquire_timeout = 100ms;
  auto pool = make_pool(o);
  {
    auto lease = pool->acquire();
    lease->alive = false;
  }
  clock.advance(o.validate_after + 1ms);
  fail_creates = 1;
  EXPECT_THROW(pool->acquire(), CustomCreateError);
  PoolStats s = pool->stats();
  EXPECT_EQ(s.closed_broken, 1u);
  EXPECT_EQ(s.failed_creates, 1u);
  EXPECT_EQ(s.open + s.creating, 0u);
  pool->acquire();
  expect_counters_add_up(pool->stats());
}

// ---------------------------------------------------------------- close and lifetime

TEST_F(PoolTest, CloseFailsWaitersPromptly) {
  PoolOptions o = options();
  o.max_open = 1;
  o.max_idle = 1;
  auto pool = make_pool(o);
  auto held = pool->acquire();
  std::atomic<int> closed_errors{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < 3; ++i) {
    waiters.push_back(guarded_thread([&] {
      try {
        pool->acquire();
      } catch (const PoolClosedError& e) {
        EXPECT_EQ(e.errc(), Errc::pool_closed);
        ++closed_errors;
      }
    }));
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
  PoolStats s = pool->stats();
  EXPECT_EQ(s.closed_pool, 1u);
  EXPECT_EQ(s.in_use, 1u);
  EXPECT_GT(out->id, 0);  // still usable
  out.reset();
  EXPECT_EQ(counters->destroyed.load(), 2);
  s = pool->stats();
  EXPECT_EQ(s.closed_pool, 2u);
  EXPECT_EQ(s.open, 0u);
  expect_counters_add_up(s);
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
  PoolOptions o = options();
  o.max_open = 1;
  o.max_idle = 1;
  auto pool = make_pool(o);
  auto held = pool->acquire();
  TestPool* raw = pool.get();
  bool closed_error = false;
  std::thread waiter = guarded_thread([&] {
    try {
      raw->acquire();
    } catch (const PoolClosedError&) {
      closed_error = true;
    }
  });
  EXPECT_TRUE(eventually([&] { return pool->stats().waiting == 1; }));
  const auto start = Clock::now();
  pool.reset();
  waiter.join();
  EXPECT_TRUE(closed_error);
  EXPECT_LT(ms_since(start), 2000u);
  held.reset();
  EXPECT_EQ(counters->destroyed.load(), 1);
}

TEST_F(PoolTest, CloseDuringCreateFailsThatAcquire) {
  std::mutex m;
  std::condition_variable cv;
  bool release_create = false;
  create_gate = [&] {
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return release_create; });
  };
  auto pool = make_pool(options());
  bool closed_error = false;
  std::thread creator = guarded_thread([&] {
    try {
      pool->acquire();
    } catch (const PoolClosedError&) {
      closed_error = true;
    }
  });
  EXPECT_TRUE(eventually([&] { return pool->stats().creating == 1; }));
  pool->close();
  {
    std::lock_guard<std::mutex> lock(m);
    release_create = true;
  }
  cv.notify_all();
  creator.join();
  EXPECT_TRUE(closed_error);
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.created, 1u);
  EXPECT_EQ(s.closed_pool, 1u);
  EXPECT_EQ(counters->destroyed.load(), 1);
  expect_counters_add_up(s);
}

// ---------------------------------------------------------------- fork

TEST_F(PoolTest, ForkedChildNeverUsesTheParentsResources) {
  // Each pool's reaper reads its clock first thing; fork only once both run.
  // A thread still starting up may hold the sanitizer allocator's lock, which
  // GCC 12's ASan does not take around fork(): the child would inherit it
  // locked. (glibc's malloc is fork-safe; this only matters under ASan.)
  auto pool = make_pool(options());
  ASSERT_TRUE(eventually([&] { return clock.reads() > 0; }));
  PoolOptions ro = options();
  ro.idle_timeout = 100ms;
  std::atomic<int> real_clock_reads{0};
  PoolHooks<FakeConn> rh = hooks();
  rh.now = [&] {
    real_clock_reads.fetch_add(1);
    return Clock::now();
  };
  auto reaped_pool = std::make_unique<TestPool>(rh, ro);
  ASSERT_TRUE(eventually([&] { return real_clock_reads.load() > 0; }));

  auto a = pool->acquire();
  auto b = pool->acquire();
  const int idle_id = a->id;
  const int held_id = b->id;
  a.reset();  // idle across the fork; `b` stays leased across it
  const pid_t parent = ::getpid();

  const pid_t child = ::fork();
  ASSERT_NE(child, -1);
  if (child == 0) {
    // No gtest assertions here: report through the exit status.
    int failures = 0;
    {
      const int destroyed_before = counters->destroyed.load();
      auto lease = pool->acquire();
      if (lease->id == idle_id || lease->id == held_id || lease->pid != ::getpid() || lease->pid == parent) {
        failures |= 1;
      }
      // The inherited idle one was destroyed, never handed out.
      if (counters->destroyed.load() != destroyed_before + 1) {
        failures |= 2;
      }
      PoolStats s = pool->stats();
      if (s.closed_fork != 2 || s.created != s.open + s.closed_total() || s.open != 1) {
        failures |= 4;
      }
      b.reset();  // leased in the parent, returned here: closed, not pooled
      s = pool->stats();
      if (s.idle != 0 || counters->destroyed.load() != destroyed_before + 2 || s.open != 1) {
        failures |= 8;
      }
      lease.reset();
      if (pool->stats().idle != 1) {
        failures |= 16;
      }
      // The reaper thread did not survive the fork; it must have been restarted.
      { auto r = reaped_pool->acquire(); }
      if (!eventually([&] { return reaped_pool->stats().closed_idle == 1; }, 10s)) {
        failures |= 32;
      }
    }
#if defined(POOL_TEST_NO_JOIN_IN_FORKED_CHILD)
    (void)pool.release();
    (void)reaped_pool.release();
#else
    pool.reset();  // shutting down in the child must not hang either
    reaped_pool.reset();
#endif
    ::_exit(failures);
  }

  int status = 0;
  pid_t waited = 0;
  const bool finished = eventually(
      [&] {
        waited = ::waitpid(child, &status, WNOHANG);
        return waited != 0;
      },
      60s);
  if (!finished) {
    ::kill(child, SIGKILL);
    ::waitpid(child, &status, 0);
    FAIL() << "the forked child hung";
  }
  ASSERT_EQ(waited, child);
  ASSERT_TRUE(WIFEXITED(status)) << "child died with signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "failed child checks (bit mask): " << WEXITSTATUS(status);

  // The parent is unaffected: same idle resource, nothing dropped.
  auto again = pool->acquire();
  EXPECT_EQ(again->id, idle_id);
  EXPECT_EQ(pool->stats().closed_fork, 0u);
  b.reset();
  expect_counters_add_up(pool->stats());
}

// ---------------------------------------------------------------- stats

TEST_F(PoolTest, StatsAddUpAcrossEveryCloseReason) {
  PoolOptions o = options();
  o.max_open = 4;
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
  EXPECT_EQ(pool->stats().closed_broken, 1u);
  EXPECT_EQ(pool->stats().closed_surplus, 1u);
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
  EXPECT_EQ(s.closed_idle, 1u);
  EXPECT_EQ(s.closed_lifetime, 1u);
  EXPECT_EQ(s.closed_dropped, 1u);
  EXPECT_EQ(s.closed_pool, 2u);
  EXPECT_EQ(s.created, 7u);
  EXPECT_EQ(s.open, 0u);
  EXPECT_EQ(s.acquires, 7u);
  expect_counters_add_up(s);
  EXPECT_EQ(static_cast<std::uint64_t>(counters->destroyed.load()), s.closed_total());
}

// ---------------------------------------------------------------- stress

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
    return std::make_unique<FakeConn>(counters->next_id.fetch_add(1) + 1, counters);
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
