#pragma once
// The fake resource, fake clock and fixture the Pool unit tests share: a pool
// over FakeConn needs no Redis server. Timing helpers measure with
// steady_clock and keep margins that hold on a loaded two-core machine;
// "must be woken" tests give the waiter a long acquire_timeout and require it
// to succeed quickly, so a lost wake-up shows up as a failure rather than as
// a slow pass.

#include <gtest/gtest.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "redis_session/pool.hpp"

namespace redis_session::test {

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

// Holds a create() (or any thread) until the test opens it.
class Gate {
 public:
  void wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return open_; });
  }
  void open() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      open_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
};

using TestPool = Pool<FakeConn>;

inline std::uint64_t ms_since(Clock::time_point start) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count());
}

// Polls until pred() holds or `limit` passes; returns pred().
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  const auto deadline = Clock::now() + limit;
  while (!pred()) {
    if (Clock::now() >= deadline) {
      return pred();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
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

// An acquire() on its own thread that is meant to fail with Error: counts it
// in `caught` and hands it to `check`. Any other exception fails the test.
template <class Error, class Check = void (*)(const Error&)>
std::thread acquire_expecting(
    TestPool& pool, std::atomic<int>& caught, Check check = [](const Error&) {}) {
  return guarded_thread([&pool, &caught, check] {
    try {
      pool.acquire();
    } catch (const Error& e) {
      check(e);
      ++caught;
    }
  });
}

// The PoolStats figures a test pins down; those left unset are not checked.
// Fields in PoolStats order, so designated initializers work. expect_stats()
// also checks that the counters add up, as every snapshot must.
struct ExpectedStats {
  std::optional<std::uint64_t> open, idle, in_use, creating, waiting;
  std::optional<std::uint64_t> acquires, timeouts, created, failed_creates;
  std::optional<std::uint64_t> closed_idle, closed_lifetime, closed_broken, closed_surplus, closed_pool, closed_dropped,
      closed_fork;
};

inline void expect_counters_add_up(const PoolStats& s) {
  EXPECT_EQ(s.created, s.open + s.closed_total())
      << "open=" << s.open << ", closed: idle=" << s.closed_idle << " lifetime=" << s.closed_lifetime
      << " broken=" << s.closed_broken << " surplus=" << s.closed_surplus << " pool=" << s.closed_pool
      << " dropped=" << s.closed_dropped << " fork=" << s.closed_fork;
  EXPECT_EQ(s.open, s.idle + s.in_use);
}

inline void expect_stats(const PoolStats& s, const ExpectedStats& e) {
  struct Row {
    const char* field;
    std::optional<std::uint64_t> expected;
    std::uint64_t actual;
  };
  const Row rows[] = {{"open", e.open, s.open},
                      {"idle", e.idle, s.idle},
                      {"in_use", e.in_use, s.in_use},
                      {"creating", e.creating, s.creating},
                      {"waiting", e.waiting, s.waiting},
                      {"acquires", e.acquires, s.acquires},
                      {"timeouts", e.timeouts, s.timeouts},
                      {"created", e.created, s.created},
                      {"failed_creates", e.failed_creates, s.failed_creates},
                      {"closed_idle", e.closed_idle, s.closed_idle},
                      {"closed_lifetime", e.closed_lifetime, s.closed_lifetime},
                      {"closed_broken", e.closed_broken, s.closed_broken},
                      {"closed_surplus", e.closed_surplus, s.closed_surplus},
                      {"closed_pool", e.closed_pool, s.closed_pool},
                      {"closed_dropped", e.closed_dropped, s.closed_dropped},
                      {"closed_fork", e.closed_fork, s.closed_fork}};
  for (const Row& row : rows) {
    if (row.expected) {
      EXPECT_EQ(row.actual, *row.expected) << "PoolStats." << row.field;
    }
  }
  expect_counters_add_up(s);
}

class PoolTest : public ::testing::Test {
 protected:
  // Tests mostly use the fake clock; idle_timeout is long in real time too so
  // the background reaper never fires during a test that drives reap() itself.
  PoolOptions options() const {
    PoolOptions o;
    o.max_open = 2;
    o.max_idle = 2;
    o.acquire_timeout = std::chrono::seconds(10);
    o.idle_timeout = std::chrono::hours(1);
    o.max_lifetime = std::chrono::hours(2);
    o.max_lifetime_jitter = 0.0;
    o.validate_after = std::chrono::seconds(1);
    return o;
  }

  // options() with room for n, all of which may stay idle.
  PoolOptions slots(std::size_t n) const {
    PoolOptions o = options();
    o.max_open = n;
    o.max_idle = n;
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
      return new_conn();
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

  std::unique_ptr<FakeConn> new_conn() {
    return std::make_unique<FakeConn>(counters->next_id.fetch_add(1) + 1, counters);
  }

  std::unique_ptr<TestPool> make_pool(PoolOptions o, bool fake_clock = true) {
    return std::make_unique<TestPool>(hooks(fake_clock), std::move(o));
  }

  std::shared_ptr<Counters> counters = std::make_shared<Counters>();
  FakeClock clock;
  std::atomic<int> fail_creates{0};
  std::function<void()> create_gate;  // set before the pool is used by other threads
};

}  // namespace redis_session::test
