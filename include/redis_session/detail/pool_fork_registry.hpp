#pragma once
// How pools notice fork() and keep their mutexes consistent across it (see
// the design notes in redis_session/pool.hpp).

#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <new>

namespace redis_session {
namespace detail {

// Bumped in each new child process; a pool stamps its leases with the
// generation it last saw, so one taken before a fork is known when it comes
// back. Relaxed is enough: only the child's single thread writes it, before
// any other thread of the child exists.
inline std::atomic<std::uint32_t> fork_generation{0};

// Every live pool's mutex, so the atfork handlers can hold them all across
// fork(): otherwise the child could inherit a mutex that a thread (the reaper,
// say) held at that instant, and nobody would ever unlock it. The child's
// handler also raises each pool's `forked` flag, guarded by that mutex: a
// pool's hot path then tests a field on its own cache line rather than
// loading fork_generation from another.
class ForkRegistry {
 public:
  struct Node {
    std::mutex* mutex = nullptr;
    bool* forked = nullptr;
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
    for (Node* n = instance().head_; n != nullptr; n = n->next) {
      *n->forked = true;  // each pool's mutex is still held by before_fork
    }
    unlock_all();
  }

  std::mutex mutex_;
  Node* head_ = nullptr;
};

}  // namespace detail
}  // namespace redis_session
