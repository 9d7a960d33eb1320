#pragma once
// PoolState's slow paths: what acquire and release fall back to when the hot
// path in pool_state.hpp does not apply (queueing for a slot, creating,
// validating, replacing), the reaper, and the recovery after fork().

#include <algorithm>
#include <chrono>
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

#include "redis_session/detail/pool_state.hpp"
#include "redis_session/error.hpp"

namespace redis_session {
namespace detail {

template <class Resource>
auto PoolState<Resource>::acquire_slow(std::unique_lock<std::mutex>& lock) -> Lease {
  if (forked_) {
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

template <class Resource>
void PoolState<Resource>::release_slow(std::unique_lock<std::mutex>& lock, std::unique_ptr<Resource>& resource,
                                       PoolTime now, PoolTime expires_at, std::uint32_t generation,
                                       bool broken) noexcept {
  if (forked_) {
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

template <class Resource>
auto PoolState<Resource>::wait_and_acquire(std::unique_lock<std::mutex>& lock) -> Lease {
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

template <class Resource>
void PoolState<Resource>::leave_wait_locked(std::chrono::steady_clock::duration waited) noexcept {
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
template <class Resource>
auto PoolState<Resource>::finish_acquire(Grant grant, Entry entry) -> Lease {
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
template <class Resource>
void PoolState<Resource>::condemn_unchecked_idle_locked(PoolTime now,
                                                        std::vector<std::unique_ptr<Resource>>& dead) noexcept {
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

template <class Resource>
auto PoolState<Resource>::lifetime_deadline_locked(PoolTime created_at) noexcept -> PoolTime {
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
template <class Resource>
void PoolState<Resource>::serve_waiters_locked() noexcept {
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

template <class Resource>
auto PoolState<Resource>::pop_waiter() noexcept -> Waiter* {
  Waiter* w = head_;
  unlink_waiter(w);
  return w;
}

template <class Resource>
void PoolState<Resource>::unlink_waiter(Waiter* w) noexcept {
  (w->prev != nullptr ? w->prev->next : head_) = w->next;
  (w->next != nullptr ? w->next->prev : tail_) = w->prev;
  w->prev = w->next = nullptr;
  --queue_length_;
}

// Closes idle entries past idle_timeout or max_lifetime into `dead` and
// returns how long until the next one is due.
template <class Resource>
auto PoolState<Resource>::reap_locked(PoolTime now, std::vector<std::unique_ptr<Resource>>& dead)
    -> std::chrono::nanoseconds {
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

template <class Resource>
auto PoolState<Resource>::start_reaper() -> std::unique_ptr<Reaper> {
  auto reaper = std::make_unique<Reaper>();
  reaper->thread = std::thread([this, r = reaper.get()] { run_reaper(r); });
  return reaper;
}

template <class Resource>
void PoolState<Resource>::run_reaper(Reaper* r) noexcept {
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
template <class Resource>
void PoolState<Resource>::reset_after_fork(std::unique_lock<std::mutex>& lock, bool start_new_reaper) noexcept {
  generation_ = fork_generation.load(std::memory_order_relaxed);
  forked_ = false;
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

}  // namespace detail
}  // namespace redis_session
