#pragma once
// A SessionStore decorator for tests of the layers above the store: it
// forwards to a MemoryStore and shows exactly which store calls each step
// makes and what a commit writes, and it can inject typed store failures.

#include <array>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "redis_session/memory_store.hpp"
#include "redis_session/session_store.hpp"

namespace redis_session::test {

enum class Op : std::size_t { load, save, increment, destroy, touch, exists, regenerate, count, for_each_id, clear };
constexpr std::size_t op_count = 10;

// Forwards every call to a MemoryStore, counting calls per operation and
// recording each save() that reached the store. fail_next() makes the next call
// of one operation throw instead (before it reaches the store), to test that
// typed store errors reach the application unchanged.
//
// Thread safety: none; each test drives it from one thread.
class CountingStore final : public SessionStore {
 public:
  struct SaveCall {
    std::string id;
    SessionChanges changes;
  };

  explicit CountingStore(MemoryStoreOptions options = {}) : inner_(std::move(options)) {}

  // The store behind the counter: the "other request" in a test, and a way to
  // look at the data without counting.
  MemoryStore& inner() noexcept { return inner_; }

  int calls(Op op) const { return calls_[static_cast<std::size_t>(op)]; }
  int total_calls() const {
    int n = 0;
    for (int c : calls_) n += c;
    return n;
  }
  const std::vector<SaveCall>& saves() const noexcept { return saves_; }
  const std::vector<std::string>& loaded_ids() const noexcept { return loaded_ids_; }
  void reset() {
    calls_.fill(0);
    saves_.clear();
    loaded_ids_.clear();
  }

  template <class E>
  void fail_next(Op op, std::string message) {
    fail_op_ = op;
    fail_ = [message = std::move(message)] { throw E(message); };
  }

  std::optional<Fields> load(std::string_view id) override {
    enter(Op::load);
    loaded_ids_.emplace_back(id);
    return inner_.load(id);
  }
  SaveResult save(std::string_view id, const SessionChanges& changes) override {
    enter(Op::save);
    saves_.push_back({std::string(id), changes});
    return inner_.save(id, changes);
  }
  std::optional<long long> increment(std::string_view id, std::string_view field, long long by, bool create) override {
    enter(Op::increment);
    return inner_.increment(id, field, by, create);
  }
  bool destroy(std::string_view id) override {
    enter(Op::destroy);
    return inner_.destroy(id);
  }
  bool touch(std::string_view id) override {
    enter(Op::touch);
    return inner_.touch(id);
  }
  bool exists(std::string_view id) override {
    enter(Op::exists);
    return inner_.exists(id);
  }
  RegenerateResult regenerate(std::string_view old_id, std::string_view new_id) override {
    enter(Op::regenerate);
    return inner_.regenerate(old_id, new_id);
  }
  std::size_t count() override {
    enter(Op::count);
    return inner_.count();
  }
  void for_each_id(const std::function<void(std::string_view)>& f) override {
    enter(Op::for_each_id);
    inner_.for_each_id(f);
  }
  std::size_t clear() override {
    enter(Op::clear);
    return inner_.clear();
  }

 private:
  void enter(Op op) {
    ++calls_[static_cast<std::size_t>(op)];
    if (fail_ && fail_op_ == op) {
      std::function<void()> fail = std::move(fail_);
      fail_ = nullptr;
      fail();
    }
  }

  MemoryStore inner_;
  std::array<int, op_count> calls_{};
  std::vector<SaveCall> saves_;
  std::vector<std::string> loaded_ids_;
  std::function<void()> fail_;
  Op fail_op_ = Op::load;
};

}  // namespace redis_session::test
