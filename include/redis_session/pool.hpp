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
//   a new reaper thread (threads do not survive fork). The child's handler
//   raises a flag in each pool, next to its mutex, so the hot path tests a
//   byte it reads anyway, where getpid() is a system call since glibc 2.25.
//   The handlers also hold every pool's mutex across fork() so the child
//   never inherits one locked.
// - The uncontended hot path (one idle resource out, back again) costs two
//   lock pairs, two coarse clock reads (both needed: validate_after and
//   max_lifetime are decided at acquire, idle time starts at release) and
//   the is_broken hook; its fields share two cache lines with the mutex and
//   every way off it is an out-of-line cold call.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

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

}  // namespace redis_session

// The shared state behind Pool and PoolLease (detail/pool_state.hpp); it
// needs every type above complete.
#include "redis_session/detail/pool_state.hpp"
