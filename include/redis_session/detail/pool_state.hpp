#pragma once
// PoolState, the shared state behind Pool and PoolLease: its interface, hot
// paths and data. The slow paths (queueing, creating, validating, reaping,
// recovering from fork()) are in pool_state_slow.hpp, included at the end.
// The design notes are at the top of redis_session/pool.hpp.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "redis_session/detail/pool_clock.hpp"
#include "redis_session/detail/pool_fixed_stack.hpp"
#include "redis_session/detail/pool_fork_registry.hpp"
#include "redis_session/error.hpp"
#include "redis_session/pool.hpp"

namespace redis_session {
namespace detail {

// Everything a Pool shares with its leases. It frees itself once the Pool is
// gone and nothing refers to it any more (no lease out, no create or wait in
// progress); every such count is kept under mutex_, so this costs nothing
// beyond the lock each acquire and release takes anyway.
template <class Resource>
class PoolState {
 public:
  using Lease = PoolLease<Resource>;

  PoolState(PoolHooks<Resource> hooks, PoolOptions options)
      : options_(validated(std::move(options))),
        create_(std::move(hooks.create)),
        validate_(std::move(hooks.validate)),
        now_(std::move(hooks.now)),
        validate_after_(validate_ ? PoolTime::duration(options_.validate_after) : PoolTime::duration::max()),
        custom_clock_(static_cast<bool>(now_)),
        idle_(options_.max_idle),
        generation_(fork_generation.load(std::memory_order_relaxed)),
        is_broken_(std::move(hooks.is_broken)) {
    if (!create_) {
      throw InvalidOptionsError("PoolHooks.create is required");
    }
    max_jitter_ = static_cast<std::uint64_t>(std::llround(
        static_cast<double>(std::chrono::nanoseconds(options_.max_lifetime).count()) * options_.max_lifetime_jitter));
    rng_ = reinterpret_cast<std::uintptr_t>(this) ^
           static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    fork_node_.mutex = &mutex_;
    fork_node_.forked = &forked_;
    ForkRegistry::instance().add(&fork_node_);
    try {
      reaper_ = start_reaper();
    } catch (...) {
      ForkRegistry::instance().remove(&fork_node_);
      throw;
    }
  }

  ~PoolState() { ForkRegistry::instance().remove(&fork_node_); }
  PoolState(const PoolState&) = delete;
  PoolState& operator=(const PoolState&) = delete;

  const PoolOptions& options() const noexcept { return options_; }

  Lease acquire() {
    // Read outside the lock: a custom clock is user code.
    const PoolTime now = aging_now();
    mutex_.lock();
    if (!forked_ && !closed_ && !idle_.empty()) {
      Entry& top = idle_.top();
      if (now < top.expires_at && !needs_validation(top, now)) {
        // The hot path: one lock, no allocation, no hook, nothing that throws.
        ++in_use_;
        ++acquires_;
        std::unique_ptr<Resource> resource = std::move(top.resource);
        const PoolTime expires_at = top.expires_at;
        idle_.drop_top();
        mutex_.unlock();
        // A prvalue, so it is built straight in the caller's lease: a named
        // one would be moved, since the other branch returns another object.
        return Lease(this, std::move(resource), expires_at, generation_);
      }
    }
    std::unique_lock<std::mutex> lock(mutex_, std::adopt_lock);
    return acquire_slow(lock);
  }

  // Takes the resource out of `resource` (a lease's), whatever happens to it.
  void release(std::unique_ptr<Resource>& resource, PoolTime expires_at, std::uint32_t generation,
               bool discard) noexcept {
    bool broken = discard;
    if (!broken && is_broken_) {
      try {
        broken = is_broken_(static_cast<const Resource&>(*resource));
      } catch (...) {
        broken = true;  // we are in a destructor: "cannot tell" must mean "do not reuse"
      }
    }
    const PoolTime now = broken ? PoolTime{} : aging_now();
    mutex_.lock();
    if (!broken && !forked_ && !closed_ && generation == generation_ && now < expires_at && head_ == nullptr &&
        !idle_.full()) {
      // The hot path: back on the idle stack.
      --in_use_;
      idle_.push(Entry{std::move(resource), now, expires_at});
      mutex_.unlock();
      return;
    }
    std::unique_lock<std::mutex> lock(mutex_, std::adopt_lock);
    release_slow(lock, resource, now, expires_at, generation, broken);
  }

  std::size_t reap() {
    const PoolTime now = aging_now();
    std::vector<std::unique_ptr<Resource>> dead;
    std::unique_lock<std::mutex> lock(mutex_);
    if (forked_) {
      reset_after_fork(lock, true);
    }
    reap_locked(now, dead);
    lock.unlock();
    return dead.size();  // destroyed on return, outside the lock
  }

  std::size_t drop_idle() {
    std::vector<std::unique_ptr<Resource>> dead;
    std::unique_lock<std::mutex> lock(mutex_);
    if (forked_) {
      reset_after_fork(lock, true);
    }
    dead.reserve(idle_.size());
    while (!idle_.empty()) {
      dead.push_back(idle_.pop().resource);
      --open_;
      ++closed_dropped_;
    }
    serve_waiters_locked();
    lock.unlock();
    return dead.size();  // destroyed on return, outside the lock
  }

  void close() noexcept {
    FixedStack<Entry> dead;
    std::unique_ptr<Reaper> reaper;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      if (forked_) {
        reset_after_fork(lock, false);
      }
      if (closed_) {
        return;
      }
      closed_ = true;
      closed_pool_ += idle_.size();
      open_ -= idle_.size();
      dead = std::move(idle_);  // nothing is pooled after close(): idle_ keeps no capacity
      while (head_ != nullptr) {
        Waiter* w = pop_waiter();
        w->outcome = Waiter::Outcome::closed;
        w->cv.notify_one();
      }
      if (reaper_) {
        reaper_->stop = true;
        reaper_->cv.notify_one();
        reaper = std::move(reaper_);
      }
    }
    if (reaper && reaper->thread.joinable()) {
      if (reaper->thread.get_id() == std::this_thread::get_id()) {
        reaper->thread.detach();  // a resource destructor run by the reaper closed the pool
        (void)reaper.release();   // the detached thread still reads it
      } else {
        reaper->thread.join();
      }
    }
  }

  // The Pool is going away. Waits for woken waiters to leave (close() has
  // already told them), then frees the state unless leases are still out.
  void drop_owner() noexcept {
    std::unique_lock<std::mutex> lock(mutex_);
    drained_.wait(lock, [this] { return waiting_threads_ == 0; });
    owner_alive_ = false;
    unlock_and_cleanup(lock, nullptr);
  }

  PoolStats stats() {
    std::unique_lock<std::mutex> lock(mutex_);
    if (forked_) {
      reset_after_fork(lock, true);
    }
    PoolStats s;
    s.open = open_;
    s.idle = idle_.size();
    s.in_use = in_use_;
    s.creating = creating_;
    s.waiting = queue_length_;
    s.acquires = acquires_;
    s.timeouts = timeouts_;
    s.created = created_;
    s.failed_creates = failed_creates_;
    s.closed_idle = closed_idle_;
    s.closed_lifetime = closed_lifetime_;
    s.closed_broken = closed_broken_;
    s.closed_surplus = closed_surplus_;
    s.closed_pool = closed_pool_;
    s.closed_dropped = closed_dropped_;
    s.closed_fork = closed_fork_;
    s.wait_total = wait_total_;
    s.wait_max = wait_max_;
    return s;
  }

 private:
  struct Entry {
    std::unique_ptr<Resource> resource;
    PoolTime idle_since{};
    PoolTime expires_at{};
  };

  // One queued acquire(), on its own stack; its own condition variable lets a
  // release wake exactly the waiter it served.
  struct Waiter {
    enum class Outcome { pending, entry, slot, closed };
    std::condition_variable cv;
    Waiter* prev = nullptr;
    Waiter* next = nullptr;
    Outcome outcome = Outcome::pending;
    Entry entry;
  };

  // Heap-allocated so that a child process can abandon its parent's copy: its
  // thread does not exist there and its condition variable may record a
  // waiter that never returns (destroying it could block forever).
  struct Reaper {
    std::condition_variable cv;
    std::thread thread;
    bool stop = false;
  };

  enum class Grant { entry, slot };

  // A failed validation at least this slow means "not answering" rather than
  // "closed" (see condemn_unchecked_idle_locked). A closed socket fails in
  // microseconds; a PING that timed out took a whole command_timeout.
  static constexpr std::chrono::milliseconds slow_validation{20};

  static PoolOptions validated(PoolOptions options) {
    options.validate();
    options.max_idle = std::min(options.max_idle, options.max_open);
    return options;
  }
  enum class Why { idle, lifetime, broken, surplus, pool };

  PoolTime aging_now() const { return custom_clock_ ? now_() : coarse_now(); }

  bool needs_validation(const Entry& e, PoolTime now) const noexcept {
    return now - e.idle_since > validate_after_;  // never without a validate hook: validate_after_ is max()
  }

  void close_locked(Why why) noexcept {
    --open_;
    ++closed_count(why);
  }

  std::uint64_t& closed_count(Why why) noexcept {
    std::uint64_t* const counts[] = {&closed_idle_, &closed_lifetime_, &closed_broken_, &closed_surplus_,
                                     &closed_pool_};  // in the order of Why
    return *counts[static_cast<int>(why)];
  }

  // The caller's claim on the state is gone. Unlocks, destroys `dead`, and
  // frees the state if nobody else refers to it. The caller must not touch
  // the state afterwards.
  void unlock_and_cleanup(std::unique_lock<std::mutex>& lock, std::unique_ptr<Resource> dead) noexcept {
    const bool orphaned = !owner_alive_ && in_use_ == 0 && creating_ == 0 && stale_ == 0 && waiting_threads_ == 0;
    lock.unlock();
    dead.reset();
    if (orphaned) {
      delete this;
    }
  }

  [[noreturn]] static void throw_closed() { throw PoolClosedError("the connection pool is closed"); }

  // Defined in pool_state_slow.hpp. The two ways out of the hot paths are
  // cold: kept out of line (GCC inlined release_slow into every caller
  // before), so what acquire() and release() inline stays small.
  [[gnu::cold]] Lease acquire_slow(std::unique_lock<std::mutex>& lock);
  [[gnu::cold]] void release_slow(std::unique_lock<std::mutex>& lock, std::unique_ptr<Resource>& resource, PoolTime now,
                                  PoolTime expires_at, std::uint32_t generation, bool broken) noexcept;
  Lease wait_and_acquire(std::unique_lock<std::mutex>& lock);
  void leave_wait_locked(std::chrono::steady_clock::duration waited) noexcept;
  Lease finish_acquire(Grant grant, Entry entry);
  void condemn_unchecked_idle_locked(PoolTime now, std::vector<std::unique_ptr<Resource>>& dead) noexcept;
  PoolTime lifetime_deadline_locked(PoolTime created_at) noexcept;
  void serve_waiters_locked() noexcept;
  Waiter* pop_waiter() noexcept;
  void unlink_waiter(Waiter* w) noexcept;
  std::chrono::nanoseconds reap_locked(PoolTime now, std::vector<std::unique_ptr<Resource>>& dead);
  std::unique_ptr<Reaper> start_reaper();
  void run_reaper(Reaper* r) noexcept;
  void reset_after_fork(std::unique_lock<std::mutex>& lock, bool start_new_reaper) noexcept;

  // Set in the constructor, then only read.
  PoolOptions options_;
  const std::function<std::unique_ptr<Resource>()> create_;
  const std::function<bool(Resource&)> validate_;
  const std::function<PoolTime()> now_;
  const PoolTime::duration validate_after_;  // options_.validate_after, or max() without a validate hook
  const bool custom_clock_;                  // now_ is set
  std::uint64_t max_jitter_ = 0;             // ns

  // What an uncontended acquire and release write, together from a cache
  // line's start (two lines with glibc's 40-byte mutex): the mutex, what
  // they change under it, and the one hook release calls.
  alignas(64) std::mutex mutex_;
  // Everything from here on is guarded by mutex_, but is_broken_ (constant).
  FixedStack<Entry> idle_;  // top() is the most recently used
  std::size_t in_use_ = 0;
  std::uint64_t acquires_ = 0;
  Waiter* head_ = nullptr;
  std::uint32_t generation_;
  bool closed_ = false;
  bool forked_ = false;  // raised in a child by ForkRegistry, with mutex_ held; reset_after_fork clears it
  const std::function<bool(const Resource&)> is_broken_;

  std::size_t open_ = 0;  // idle + in use
  std::size_t creating_ = 0;
  std::size_t stale_ = 0;  // leases and creates from before a fork
  Waiter* tail_ = nullptr;
  std::size_t queue_length_ = 0;
  std::size_t waiting_threads_ = 0;  // threads inside wait_and_acquire, queued or just served
  std::condition_variable drained_;  // waiting_threads_ dropped to 0 after close()
  std::unique_ptr<Reaper> reaper_;
  bool owner_alive_ = true;
  std::uint64_t rng_ = 0;

  std::uint64_t timeouts_ = 0;
  std::uint64_t created_ = 0;
  std::uint64_t failed_creates_ = 0;
  std::uint64_t closed_idle_ = 0;
  std::uint64_t closed_lifetime_ = 0;
  std::uint64_t closed_broken_ = 0;
  std::uint64_t closed_surplus_ = 0;
  std::uint64_t closed_pool_ = 0;
  std::uint64_t closed_dropped_ = 0;
  std::uint64_t closed_fork_ = 0;
  std::chrono::nanoseconds wait_total_{0};
  std::chrono::nanoseconds wait_max_{0};

  ForkRegistry::Node fork_node_;
};

}  // namespace detail
}  // namespace redis_session

#include "redis_session/detail/pool_state_slow.hpp"
