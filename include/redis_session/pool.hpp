#pragma once
// A bounded pool of reusable resources: Redis connections in production, a
// fake in the unit tests. The pool knows nothing about Redis; it learns how to
// create, check and age a resource through PoolHooks.
//
// Plugging in redis::Connection:
//
//   PoolHooks<redis::Connection> hooks;
//   hooks.create = [opts] { return std::make_unique<redis::Connection>(opts); };
//   hooks.validate = [](redis::Connection& c) { return c.ping(); };
//   hooks.is_broken = [](const redis::Connection& c) { return c.broken(); };
//   Pool<redis::Connection> pool(std::move(hooks), pool_options);
//   auto lease = pool.acquire();  // returned to the pool when `lease` dies
//   lease->command({"PING"});
//
// Design notes (the why behind the code below):
// - One mutex guards everything and is held only for bookkeeping: create(),
//   every hook and every resource destruction happen with it released, so a
//   slow connect or close never blocks a release. An uncontended acquire and
//   release take it once each and allocate nothing.
// - Waiters queue FIFO, each on its own condition variable. A release while
//   someone waits hands the resource (or the freed slot) straight to the
//   queue's head, so a newcomer can never take it first and nobody waits
//   while a connection sits idle: idle resources and queued waiters never
//   coexist.
// - Idle resources form a LIFO stack: the hot ones are reused and the
//   surplus at the bottom ages out under idle_timeout.
// - A validation that fails slowly (a stalled server: the PING ran into its
//   deadline) closes the other idle resources due for a check instead of
//   checking each in turn, so an acquire waits for one slow check at most.
// - Aging (idle_timeout, max_lifetime, validate_after) uses a cheap
//   millisecond clock (CLOCK_MONOTONIC_COARSE on Linux) or PoolHooks::now;
//   acquire waits use steady_clock, so acquire_timeout is honoured in real time.
// - fork(): the child must not use a socket it shares with its parent. A
//   pthread_atfork handler bumps a process-wide generation; the first pool
//   call in the child sees the change, drops everything inherited and starts
//   a new reaper thread (threads do not survive fork). Comparing a generation
//   costs one load, where getpid() is a system call since glibc 2.25. The
//   handlers also hold every pool's mutex across fork() so the child never
//   inherits one locked.

#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "redis_session/error.hpp"

namespace redis_session {

// Limits and timers of a Pool. Every duration must be positive and at most a
// year (so deadline arithmetic cannot overflow); validate() enforces this and
// Pool's constructor calls it.
//
// Thread safety: a value type. Lifetime: the pool keeps its own copy.
struct PoolOptions {
  // Resources open at most, counting those in use, idle and being created.
  std::size_t max_open = 8;
  // Idle resources kept; a release beyond this closes the resource (surplus).
  // Above max_open it means max_open, so {.max_open = 2} needs no max_idle.
  std::size_t max_idle = 4;
  // How long acquire() waits for a free resource before PoolTimeoutError.
  std::chrono::milliseconds acquire_timeout{2000};
  // An idle resource unused this long is closed by the background reaper,
  // even when there is no traffic at all.
  std::chrono::milliseconds idle_timeout{60000};
  // A resource this old is replaced at its next release or acquire (never in
  // the middle of a use). Each resource's lifetime is shortened by a random
  // fraction of up to max_lifetime_jitter so they do not all expire together.
  std::chrono::milliseconds max_lifetime{std::chrono::minutes(30)};
  double max_lifetime_jitter = 0.1;  // in [0, 1)
  // A resource idle longer than this is checked with PoolHooks::validate
  // before it is handed out; a dead one is replaced transparently. A check
  // that fails slowly (a server that does not answer, not a closed socket)
  // also closes the other idle resources due for a check, so one acquire
  // waits for at most one slow check, not one per idle resource.
  std::chrono::milliseconds validate_after{1000};
  // Called each time acquire() gives up, without the pool's lock and just
  // before PoolTimeoutError is thrown (e.g. to count a metric). It should not
  // throw; if it does, its exception reaches the caller instead.
  std::function<void()> on_too_many_connections;

  // Throws InvalidOptionsError naming the first bad field.
  void validate() const;
};

// How the pool creates, checks and ages a resource. Only create is required.
// Hooks run without the pool's lock held, so they may be slow or call back
// into the pool (stats(), even acquire() of another pool). They must not fork.
//
// Thread safety: the pool calls each hook from whichever thread acquires,
// releases or reaps, possibly several at once; hooks must allow that.
// Lifetime: the pool keeps its own copy, alive until the pool and its last
// lease are gone (the reaper thread calls `now` too).
template <class Resource>
struct PoolHooks {
  // Opens a new resource. May throw: the exception reaches the acquirer
  // unchanged and the reserved slot is freed. Must not return null.
  std::function<std::unique_ptr<Resource>()> create;
  // Liveness check (e.g. PING) for resources idle longer than validate_after.
  // false: the resource is closed (counted as broken) and replaced.
  std::function<bool(Resource&)> validate;
  // Checked when a lease returns its resource: true closes it instead of
  // pooling it. Called from a destructor, so an exception counts as "broken".
  std::function<bool(const Resource&)> is_broken;
  // The clock for aging decisions (idle_timeout, max_lifetime,
  // validate_after); tests inject a fake one. Must not throw. Default: a
  // coarse monotonic clock (millisecond resolution is plenty for these).
  std::function<std::chrono::steady_clock::time_point()> now;
};

// A snapshot of a pool's state and lifetime counters, taken under its lock,
// so the identity  created == open + closed_total()  holds in every snapshot.
// Counters only grow; after fork() the child keeps its parent's history and
// counts what it inherited as closed_fork.
//
// Thread safety: a value type.
struct PoolStats {
  std::size_t open = 0;      // resources that exist: idle + in_use
  std::size_t idle = 0;      // pooled, ready to hand out
  std::size_t in_use = 0;    // leased out, or being validated before hand-out
  std::size_t creating = 0;  // slots reserved for a create() in progress; open + creating <= max_open
  std::size_t waiting = 0;   // acquire() calls queued for a slot

  std::uint64_t acquires = 0;        // acquire() calls that returned a lease
  std::uint64_t timeouts = 0;        // acquire() calls that threw PoolTimeoutError
  std::uint64_t created = 0;         // successful create() calls
  std::uint64_t failed_creates = 0;  // create() calls that threw (or returned null)

  // Why resources were closed.
  std::uint64_t closed_idle = 0;      // idle longer than idle_timeout (reaper)
  std::uint64_t closed_lifetime = 0;  // reached max_lifetime (at release, acquire or reap)
  std::uint64_t closed_broken = 0;    // is_broken at release, validate failed, or Lease::discard()
  std::uint64_t closed_surplus = 0;   // released while max_idle were already idle
  std::uint64_t closed_pool = 0;      // idle at close(), or returned after close()
  std::uint64_t closed_dropped = 0;   // idle when drop_idle() was called
  std::uint64_t closed_fork = 0;      // inherited across fork(): dropped (idle) or abandoned (in use) by the child

  // Time acquire() calls spent queued for a slot, including those that timed
  // out. Acquires that found a free resource add nothing.
  std::chrono::nanoseconds wait_total{0};
  std::chrono::nanoseconds wait_max{0};

  std::uint64_t closed_total() const noexcept {
    return closed_idle + closed_lifetime + closed_broken + closed_surplus + closed_pool + closed_dropped + closed_fork;
  }
};

namespace detail {
template <class Resource>
class PoolState;
}  // namespace detail

// Exclusive use of one pooled resource. Move-only; when it dies (or on
// reset()) the resource goes back to the pool, unless it is broken (per
// PoolHooks::is_broken) or was discard()ed, in which case it is closed and
// its slot freed for the next acquirer.
//
// Thread safety: a lease is used by one thread at a time, like the resource
// it holds. Distinct leases may be returned concurrently.
// Lifetime: a lease may outlive its Pool; the resource is then closed when
// the lease dies. A lease taken before fork() and returned in the child is
// closed, never pooled.
template <class Resource>
class PoolLease {
 public:
  PoolLease() noexcept = default;
  PoolLease(PoolLease&& other) noexcept
      : state_(std::exchange(other.state_, nullptr)),
        resource_(std::move(other.resource_)),
        expires_at_(other.expires_at_),
        generation_(other.generation_) {}
  PoolLease& operator=(PoolLease&& other) noexcept {
    if (this != &other) {
      give_back(false);
      state_ = std::exchange(other.state_, nullptr);
      resource_ = std::move(other.resource_);
      expires_at_ = other.expires_at_;
      generation_ = other.generation_;
    }
    return *this;
  }
  PoolLease(const PoolLease&) = delete;
  PoolLease& operator=(const PoolLease&) = delete;
  ~PoolLease() { give_back(false); }

  Resource& operator*() const noexcept { return *resource_; }
  Resource* operator->() const noexcept { return resource_.get(); }
  Resource* get() const noexcept { return resource_.get(); }
  explicit operator bool() const noexcept { return resource_ != nullptr; }

  // Returns the resource to the pool now; the lease is empty afterwards.
  void reset() noexcept { give_back(false); }
  // Closes the resource instead of returning it (e.g. after an error that
  // leaves it in an unknown state) and frees its slot now.
  void discard() noexcept { give_back(true); }

 private:
  friend class detail::PoolState<Resource>;
  using TimePoint = std::chrono::steady_clock::time_point;

  PoolLease(detail::PoolState<Resource>* state, std::unique_ptr<Resource> resource, TimePoint expires_at,
            std::uint32_t generation) noexcept
      : state_(state), resource_(std::move(resource)), expires_at_(expires_at), generation_(generation) {}

  void give_back(bool discard) noexcept {
    if (resource_) {
      state_->release(resource_, expires_at_, generation_, discard);
    }
    state_ = nullptr;
  }

  // A raw pointer: the state counts outstanding leases itself and outlives
  // them, which keeps shared_ptr reference counting off the hot path.
  detail::PoolState<Resource>* state_ = nullptr;
  std::unique_ptr<Resource> resource_;
  TimePoint expires_at_{};
  std::uint32_t generation_ = 0;
};

// A bounded, fair pool of Resource objects (see the top of this file for the
// design). acquire() hands out a PoolLease; a background thread closes idle
// resources after idle_timeout.
//
// Thread safety: every member function may be called concurrently from any
// thread. Hooks are never called with the pool's lock held.
// Lifetime: the destructor closes the pool (waiters get PoolClosedError) and
// joins the reaper thread; it must not race with new calls on the same Pool.
// Leases still out stay valid and close their resource when they die. After
// fork(), the child drops every inherited resource and keeps working.
template <class Resource>
class Pool {
 public:
  using Lease = PoolLease<Resource>;

  // Throws InvalidOptionsError for bad options or a missing create hook.
  explicit Pool(PoolHooks<Resource> hooks, PoolOptions options = {})
      : state_(new detail::PoolState<Resource>(std::move(hooks), std::move(options))) {}
  ~Pool() {
    state_->close();
    state_->drop_owner();
  }
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // A resource for exclusive use: an idle one (most recently used first),
  // else a new one if fewer than max_open are open, else the first one freed
  // within acquire_timeout, served in arrival order. Throws PoolTimeoutError,
  // PoolClosedError, or whatever create() throws.
  Lease acquire() { return state_->acquire(); }

  // Closes idle resources past idle_timeout or max_lifetime; returns how many.
  // The reaper thread calls this on its own; tests call it with a fake clock.
  std::size_t reap() { return state_->reap(); }

  // Closes every idle resource now; returns how many. For when one of them
  // turned out dead in a way that condemns the rest (the server restarted or
  // failed over): the next acquires then connect afresh instead of each
  // discovering a dead socket in turn.
  std::size_t drop_idle() { return state_->drop_idle(); }

  // Idle resources are closed, waiters and later acquires get
  // PoolClosedError, leases still out close their resource when returned.
  // Idempotent.
  void close() noexcept { state_->close(); }

  PoolStats stats() const { return state_->stats(); }
  const PoolOptions& options() const noexcept { return state_->options(); }

 private:
  detail::PoolState<Resource>* state_;  // owned jointly with outstanding leases; see PoolState
};

inline void PoolOptions::validate() const {
  const auto bad = [](const char* field, const std::string& why) {
    throw InvalidOptionsError(std::string("PoolOptions.") + field + " " + why);
  };
  constexpr std::chrono::milliseconds max_duration = std::chrono::hours(24 * 366);
  const auto check_duration = [&](const char* field, std::chrono::milliseconds d) {
    if (d <= std::chrono::milliseconds::zero() || d > max_duration) {
      bad(field, "must be positive and at most a year (got " + std::to_string(d.count()) + " ms)");
    }
  };
  if (max_open < 1) {
    bad("max_open", "must be at least 1 (got 0)");
  }
  check_duration("acquire_timeout", acquire_timeout);
  check_duration("idle_timeout", idle_timeout);
  check_duration("max_lifetime", max_lifetime);
  check_duration("validate_after", validate_after);
  if (!(max_lifetime_jitter >= 0.0 && max_lifetime_jitter < 1.0)) {  // also rejects NaN
    bad("max_lifetime_jitter", "must be in [0, 1) (got " + std::to_string(max_lifetime_jitter) + ")");
  }
}

namespace detail {

using PoolTime = std::chrono::steady_clock::time_point;

// Shares steady_clock's epoch (CLOCK_MONOTONIC) but reads the last tick
// without touching the hardware counter: a few ns, which matters on the
// acquire/release hot path; its few-ms resolution does not for aging.
inline PoolTime coarse_now() noexcept {
#if defined(CLOCK_MONOTONIC_COARSE)
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return PoolTime(std::chrono::duration_cast<PoolTime::duration>(std::chrono::seconds(ts.tv_sec) +
                                                                 std::chrono::nanoseconds(ts.tv_nsec)));
#else
  return std::chrono::steady_clock::now();
#endif
}

// Bumped in each new child process. Pools compare it with the generation they
// last saw; a relaxed load is enough because only the child's single thread
// writes it, before any other thread of the child exists.
inline std::atomic<std::uint32_t> fork_generation{0};

// Every live pool's mutex, so the atfork handlers can hold them all across
// fork(): otherwise the child could inherit a mutex that a thread (the reaper,
// say) held at that instant, and nobody would ever unlock it.
class ForkRegistry {
 public:
  struct Node {
    std::mutex* mutex = nullptr;
    Node* prev = nullptr;
    Node* next = nullptr;
  };

  // Leaked on purpose: a state freed by a late lease during static
  // destruction must still find the registry.
  static ForkRegistry& instance() {
    static ForkRegistry* registry = new ForkRegistry();
    return *registry;
  }

  void add(Node* node) {
    std::lock_guard<std::mutex> lock(mutex_);
    node->prev = nullptr;
    node->next = head_;
    if (head_ != nullptr) {
      head_->prev = node;
    }
    head_ = node;
  }

  void remove(Node* node) noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    (node->prev != nullptr ? node->prev->next : head_) = node->next;
    if (node->next != nullptr) {
      node->next->prev = node->prev;
    }
  }

 private:
  ForkRegistry() {
    if (::pthread_atfork(&before_fork, &after_fork_in_parent, &after_fork_in_child) != 0) {
      throw std::bad_alloc();  // its only documented failure is ENOMEM
    }
  }

  // Lock order: registry, then each pool. No pool code takes the registry
  // while holding a pool's mutex, and no pool code blocks while holding one.
  static void before_fork() noexcept {
    ForkRegistry& r = instance();
    r.mutex_.lock();
    for (Node* n = r.head_; n != nullptr; n = n->next) {
      n->mutex->lock();
    }
  }
  static void unlock_all() noexcept {
    ForkRegistry& r = instance();
    for (Node* n = r.head_; n != nullptr; n = n->next) {
      n->mutex->unlock();
    }
    r.mutex_.unlock();
  }
  static void after_fork_in_parent() noexcept { unlock_all(); }
  static void after_fork_in_child() noexcept {
    fork_generation.fetch_add(1, std::memory_order_relaxed);
    unlock_all();
  }

  std::mutex mutex_;
  Node* head_ = nullptr;
};

// A stack whose capacity is fixed at construction: push and pop never
// allocate (release() runs in destructors) and the hot path has no growth
// branch. Slots past size() hold moved-from (empty) values.
template <class T>
class FixedStack {
 public:
  FixedStack() noexcept = default;
  explicit FixedStack(std::size_t capacity)
      : items_(capacity == 0 ? nullptr : std::make_unique<T[]>(capacity)), capacity_(capacity) {}
  FixedStack(FixedStack&& other) noexcept
      : items_(std::move(other.items_)),
        size_(std::exchange(other.size_, 0)),
        capacity_(std::exchange(other.capacity_, 0)) {}
  FixedStack& operator=(FixedStack&& other) noexcept {
    items_ = std::move(other.items_);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
    return *this;
  }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  bool full() const noexcept { return size_ == capacity_; }
  T& top() noexcept { return items_[size_ - 1]; }
  T& operator[](std::size_t i) noexcept { return items_[i]; }
  void push(T&& value) noexcept { items_[size_++] = std::move(value); }
  T pop() noexcept { return std::move(items_[--size_]); }
  void drop_top() noexcept { --size_; }  // after moving out of top()
  // Keeps the first n; the caller has moved out of the rest.
  void truncate(std::size_t n) noexcept { size_ = n; }

 private:
  std::unique_ptr<T[]> items_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

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
        is_broken_(std::move(hooks.is_broken)),
        now_(std::move(hooks.now)),
        idle_(options_.max_idle),
        generation_(fork_generation.load(std::memory_order_relaxed)) {
    if (!create_) {
      throw InvalidOptionsError("PoolHooks.create is required");
    }
    max_jitter_ = static_cast<std::uint64_t>(std::llround(
        static_cast<double>(std::chrono::nanoseconds(options_.max_lifetime).count()) * options_.max_lifetime_jitter));
    rng_ = reinterpret_cast<std::uintptr_t>(this) ^
           static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    fork_node_.mutex = &mutex_;
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
    if (generation_ == fork_generation.load(std::memory_order_relaxed) && !closed_ && !idle_.empty()) {
      Entry& top = idle_.top();
      if (now < top.expires_at && !needs_validation(top, now)) {
        // The hot path: one lock, no allocation, no hook, nothing that throws.
        ++in_use_;
        ++acquires_;
        Lease lease(this, std::move(top.resource), top.expires_at, generation_);
        idle_.drop_top();
        mutex_.unlock();
        return lease;
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
    if (!broken && generation == generation_ && generation_ == fork_generation.load(std::memory_order_relaxed) &&
        !closed_ && now < expires_at && head_ == nullptr && !idle_.full()) {
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
    if (generation_ != fork_generation.load(std::memory_order_relaxed)) {
      reset_after_fork(lock, true);
    }
    reap_locked(now, dead);
    lock.unlock();
    return dead.size();  // destroyed on return, outside the lock
  }

  std::size_t drop_idle() {
    std::vector<std::unique_ptr<Resource>> dead;
    std::unique_lock<std::mutex> lock(mutex_);
    if (generation_ != fork_generation.load(std::memory_order_relaxed)) {
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
      if (generation_ != fork_generation.load(std::memory_order_relaxed)) {
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
    if (generation_ != fork_generation.load(std::memory_order_relaxed)) {
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

  PoolTime aging_now() const { return now_ ? now_() : coarse_now(); }

  bool needs_validation(const Entry& e, PoolTime now) const noexcept {
    return validate_ && now - e.idle_since > options_.validate_after;
  }

  void close_locked(Why why) noexcept {
    --open_;
    switch (why) {
      case Why::idle:
        ++closed_idle_;
        break;
      case Why::lifetime:
        ++closed_lifetime_;
        break;
      case Why::broken:
        ++closed_broken_;
        break;
      case Why::surplus:
        ++closed_surplus_;
        break;
      case Why::pool:
        ++closed_pool_;
        break;
    }
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

  Lease acquire_slow(std::unique_lock<std::mutex>& lock) {
    if (generation_ != fork_generation.load(std::memory_order_relaxed)) {
      reset_after_fork(lock, true);
    }
    if (closed_) {
      lock.unlock();
      throw_closed();
    }
    if (!idle_.empty()) {
      // Past its lifetime or due for validation: finish_acquire replaces or
      // checks it without the lock.
      ++in_use_;
      Entry entry = idle_.pop();
      lock.unlock();
      return finish_acquire(Grant::entry, std::move(entry));
    }
    // head_ != nullptr implies every slot is taken; checking it anyway keeps
    // a newcomer from ever overtaking a queued waiter.
    if (head_ == nullptr && open_ + creating_ < options_.max_open) {
      ++creating_;
      lock.unlock();
      return finish_acquire(Grant::slot, Entry{});
    }
    return wait_and_acquire(lock);
  }

  void release_slow(std::unique_lock<std::mutex>& lock, std::unique_ptr<Resource>& resource, PoolTime now,
                    PoolTime expires_at, std::uint32_t generation, bool broken) noexcept {
    if (generation_ != fork_generation.load(std::memory_order_relaxed)) {
      reset_after_fork(lock, true);
    }
    if (generation != generation_) {
      // Leased before a fork() in this (child) process: already counted as
      // closed_fork; the socket may be shared with the parent.
      --stale_;
      unlock_and_cleanup(lock, std::move(resource));
      return;
    }
    --in_use_;
    if (closed_) {
      close_locked(Why::pool);
    } else if (broken) {
      close_locked(Why::broken);
    } else if (now >= expires_at) {
      close_locked(Why::lifetime);
    } else if (head_ != nullptr) {
      // Straight to the longest waiter: it never goes idle, so nobody can barge.
      Waiter* w = pop_waiter();
      w->entry = Entry{std::move(resource), now, expires_at};
      w->outcome = Waiter::Outcome::entry;
      ++in_use_;
      w->cv.notify_one();  // under the lock: w lives on a stack that may unwind once we unlock
      return;
    } else if (idle_.full()) {
      close_locked(Why::surplus);
    } else {
      idle_.push(Entry{std::move(resource), now, expires_at});
      return;
    }
    serve_waiters_locked();
    unlock_and_cleanup(lock, std::move(resource));
  }

  Lease wait_and_acquire(std::unique_lock<std::mutex>& lock) {
    Waiter w;
    w.prev = tail_;
    (tail_ != nullptr ? tail_->next : head_) = &w;
    tail_ = &w;
    ++queue_length_;
    ++waiting_threads_;
    const auto start = std::chrono::steady_clock::now();
    // A wake-up that does not serve us (spurious) never restarts the clock.
    const auto deadline = start + options_.acquire_timeout;
    while (w.outcome == Waiter::Outcome::pending) {
      if (w.cv.wait_until(lock, deadline) == std::cv_status::timeout && w.outcome == Waiter::Outcome::pending) {
        unlink_waiter(&w);
        ++timeouts_;
        leave_wait_locked(std::chrono::steady_clock::now() - start);
        std::function<void()> callback = options_.on_too_many_connections;  // a copy: callable without the lock
        const std::string message = "no pooled connection became free within " +
                                    std::to_string(options_.acquire_timeout.count()) +
                                    " ms (max_open=" + std::to_string(options_.max_open) + ")";
        lock.unlock();
        if (callback) {
          callback();
        }
        throw PoolTimeoutError(message);
      }
    }
    leave_wait_locked(std::chrono::steady_clock::now() - start);
    const auto outcome = w.outcome;
    if (outcome == Waiter::Outcome::closed) {
      unlock_and_cleanup(lock, nullptr);
      throw_closed();
    }
    lock.unlock();
    return finish_acquire(outcome == Waiter::Outcome::entry ? Grant::entry : Grant::slot, std::move(w.entry));
  }

  void leave_wait_locked(std::chrono::steady_clock::duration waited) noexcept {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(waited);
    wait_total_ += ns;
    wait_max_ = std::max(wait_max_, ns);
    if (--waiting_threads_ == 0 && closed_) {
      drained_.notify_all();
    }
  }

  // We hold a slot: an entry (counted in_use_) or a reservation (counted
  // creating_). Turns it into a lease, replacing dead or expired entries and
  // creating when needed, without holding the lock for any hook.
  Lease finish_acquire(Grant grant, Entry entry) {
    for (;;) {
      if (grant == Grant::entry) {
        const PoolTime now = aging_now();
        bool expired = now >= entry.expires_at;
        bool alive = true;
        bool failed_slowly = false;
        std::vector<std::unique_ptr<Resource>> condemned;
        if (!expired && needs_validation(entry, now)) {
          const auto started = std::chrono::steady_clock::now();
          try {
            alive = validate_(*entry.resource);
          } catch (...) {
            std::unique_lock<std::mutex> lock(mutex_);
            --in_use_;
            close_locked(Why::broken);
            serve_waiters_locked();
            unlock_and_cleanup(lock, std::move(entry.resource));
            throw;
          }
          failed_slowly = !alive && std::chrono::steady_clock::now() - started >= slow_validation;
          if (failed_slowly) {
            try {
              condemned.reserve(options_.max_idle);  // before the lock: nothing allocates under it
            } catch (const std::bad_alloc&) {
              failed_slowly = false;  // then the others are checked one by one, as before
            }
          }
        }
        std::unique_lock<std::mutex> lock(mutex_);
        if (closed_) {
          --in_use_;
          close_locked(Why::pool);
          unlock_and_cleanup(lock, std::move(entry.resource));
          throw_closed();
        }
        if (!expired && alive) {
          ++acquires_;
          return Lease(this, std::move(entry.resource), entry.expires_at, generation_);
        }
        // Replace it but keep the slot: we were served, we do not requeue.
        close_locked(expired ? Why::lifetime : Why::broken);
        std::unique_ptr<Resource> dead = std::move(entry.resource);
        if (failed_slowly) {
          condemn_unchecked_idle_locked(now, condemned);
        }
        if (!idle_.empty()) {
          entry = idle_.pop();
        } else {
          --in_use_;
          ++creating_;
          grant = Grant::slot;
        }
        lock.unlock();
        dead.reset();
        condemned.clear();
        continue;
      }

      std::unique_ptr<Resource> resource;
      try {
        resource = create_();
        if (!resource) {
          throw InvalidOptionsError("PoolHooks.create returned a null resource");
        }
      } catch (...) {
        std::unique_lock<std::mutex> lock(mutex_);
        --creating_;
        ++failed_creates_;
        serve_waiters_locked();
        unlock_and_cleanup(lock, nullptr);
        throw;  // the caller sees create()'s own exception type
      }
      const PoolTime now = aging_now();
      std::unique_lock<std::mutex> lock(mutex_);
      --creating_;
      ++created_;
      ++open_;
      if (closed_) {
        close_locked(Why::pool);
        unlock_and_cleanup(lock, std::move(resource));
        throw_closed();
      }
      ++in_use_;
      ++acquires_;
      return Lease(this, std::move(resource), lifetime_deadline_locked(now), generation_);
    }
  }

  // A validation that failed slowly: the server is not answering (stalled,
  // overloaded, partitioned), as opposed to a socket that is simply closed,
  // which fails at once. Every other idle resource due for a check has sat
  // at least as long and would most likely hang as long, one after another,
  // while the caller waits: they are closed unchecked (counted as broken),
  // so an acquire waits for at most one slow check before it connects anew.
  // Fresh idle ones (used within validate_after) are kept.
  void condemn_unchecked_idle_locked(PoolTime now, std::vector<std::unique_ptr<Resource>>& dead) noexcept {
    std::size_t kept = 0;
    for (std::size_t i = 0; i < idle_.size(); ++i) {
      Entry& e = idle_[i];
      if (needs_validation(e, now) && dead.size() < dead.capacity()) {
        close_locked(Why::broken);
        dead.push_back(std::move(e.resource));  // within capacity: never allocates
      } else {
        if (kept != i) {
          idle_[kept] = std::move(e);
        }
        ++kept;
      }
    }
    idle_.truncate(kept);  // oldest first, so the stack order is kept
  }

  PoolTime lifetime_deadline_locked(PoolTime created_at) noexcept {
    // splitmix64: statistically fine for spreading expiries; cryptographic
    // quality is irrelevant here.
    std::uint64_t z = (rng_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    const std::uint64_t jitter = max_jitter_ == 0 ? 0 : z % (max_jitter_ + 1);
    return created_at + options_.max_lifetime - std::chrono::nanoseconds(static_cast<std::int64_t>(jitter));
  }

  // Hands free capacity to waiters, oldest first. Called after anything that
  // may free a slot, so a freed slot never goes unnoticed.
  void serve_waiters_locked() noexcept {
    while (head_ != nullptr) {
      Waiter* w = head_;
      if (!idle_.empty()) {
        w->entry = idle_.pop();
        ++in_use_;
        w->outcome = Waiter::Outcome::entry;
      } else if (open_ + creating_ < options_.max_open) {
        ++creating_;
        w->outcome = Waiter::Outcome::slot;
      } else {
        return;
      }
      pop_waiter();
      w->cv.notify_one();
    }
  }

  Waiter* pop_waiter() noexcept {
    Waiter* w = head_;
    unlink_waiter(w);
    return w;
  }

  void unlink_waiter(Waiter* w) noexcept {
    (w->prev != nullptr ? w->prev->next : head_) = w->next;
    (w->next != nullptr ? w->next->prev : tail_) = w->prev;
    w->prev = w->next = nullptr;
    --queue_length_;
  }

  // Closes idle entries past idle_timeout or max_lifetime into `dead` and
  // returns how long until the next one is due.
  std::chrono::nanoseconds reap_locked(PoolTime now, std::vector<std::unique_ptr<Resource>>& dead) {
    std::chrono::nanoseconds next = options_.idle_timeout;
    dead.reserve(dead.size() + idle_.size());  // may throw, but before anything changed
    const std::size_t before = dead.size();
    std::size_t kept = 0;
    for (std::size_t i = 0; i < idle_.size(); ++i) {
      Entry& e = idle_[i];
      const PoolTime idle_deadline = e.idle_since + options_.idle_timeout;
      if (now >= idle_deadline || now >= e.expires_at) {
        close_locked(now >= e.expires_at ? Why::lifetime : Why::idle);
        dead.push_back(std::move(e.resource));
      } else {
        next = std::min(
            next, std::chrono::duration_cast<std::chrono::nanoseconds>(std::min(idle_deadline, e.expires_at) - now));
        if (kept != i) {
          idle_[kept] = std::move(e);
        }
        ++kept;
      }
    }
    idle_.truncate(kept);  // oldest first, so the stack order is kept
    if (dead.size() != before) {
      serve_waiters_locked();
    }
    return std::max(next, std::chrono::nanoseconds(std::chrono::milliseconds(1)));
  }

  std::unique_ptr<Reaper> start_reaper() {
    auto reaper = std::make_unique<Reaper>();
    reaper->thread = std::thread([this, r = reaper.get()] { run_reaper(r); });
    return reaper;
  }

  void run_reaper(Reaper* r) noexcept {
    std::vector<std::unique_ptr<Resource>> dead;
    for (;;) {
      const PoolTime now = aging_now();
      std::unique_lock<std::mutex> lock(mutex_);
      if (r->stop) {
        return;
      }
      std::chrono::nanoseconds next{0};
      try {
        next = reap_locked(now, dead);
      } catch (...) {
        next = options_.idle_timeout;  // dead.push_back failed to allocate: try again later
      }
      if (dead.empty()) {
        r->cv.wait_for(lock, next);
      } else {
        lock.unlock();
        dead.clear();
      }
    }
  }

  // First call in a child process: every resource we know of belongs to the
  // parent too. Drop the idle ones (their destructors must not write), forget
  // the ones in use (their leases close them when returned here) and the
  // waiters and reaper (their threads do not exist here).
  void reset_after_fork(std::unique_lock<std::mutex>& lock, bool start_new_reaper) noexcept {
    generation_ = fork_generation.load(std::memory_order_relaxed);
    closed_fork_ += open_;
    // Leases and creates started before the fork may still come back (from
    // the thread that forked), so they keep the state alive. Those of other
    // threads never will: the state then leaks rather than risk a
    // use-after-free.
    stale_ += in_use_ + creating_;
    FixedStack<Entry> dead;
    try {
      dead = std::exchange(idle_, FixedStack<Entry>(options_.max_idle));
    } catch (const std::bad_alloc&) {
      // No memory for a fresh stack: destroy them here, under the lock. Only
      // reachable out of memory right after fork(), when nobody waits on it.
      while (!idle_.empty()) {
        idle_.pop().resource.reset();
      }
    }
    open_ = in_use_ = creating_ = 0;
    head_ = tail_ = nullptr;
    queue_length_ = 0;
    waiting_threads_ = 0;
    (void)reaper_.release();
    if (start_new_reaper && !closed_) {
      try {
        reaper_ = start_reaper();
      } catch (...) {
        // Out of threads or memory: the pool still works; idle resources are
        // then only reaped by explicit reap() calls.
      }
    }
    lock.unlock();
    dead = FixedStack<Entry>();
    lock.lock();
  }

  PoolOptions options_;
  const std::function<std::unique_ptr<Resource>()> create_;
  const std::function<bool(Resource&)> validate_;
  const std::function<bool(const Resource&)> is_broken_;
  const std::function<PoolTime()> now_;
  std::uint64_t max_jitter_ = 0;  // ns

  std::mutex mutex_;
  // Everything below is guarded by mutex_.
  FixedStack<Entry> idle_;  // top() is the most recently used
  std::size_t open_ = 0;    // idle + in use
  std::size_t in_use_ = 0;
  std::size_t creating_ = 0;
  std::size_t stale_ = 0;  // leases and creates from before a fork
  Waiter* head_ = nullptr;
  Waiter* tail_ = nullptr;
  std::size_t queue_length_ = 0;
  std::size_t waiting_threads_ = 0;  // threads inside wait_and_acquire, queued or just served
  std::condition_variable drained_;  // waiting_threads_ dropped to 0 after close()
  std::unique_ptr<Reaper> reaper_;
  bool closed_ = false;
  bool owner_alive_ = true;
  std::uint32_t generation_;
  std::uint64_t rng_ = 0;

  std::uint64_t acquires_ = 0;
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
