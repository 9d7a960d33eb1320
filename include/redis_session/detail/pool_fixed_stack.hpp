#pragma once
// The pool's idle stack.

#include <cstddef>
#include <memory>
#include <utility>

namespace redis_session {
namespace detail {

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

}  // namespace detail
}  // namespace redis_session
