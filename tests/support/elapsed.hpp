#pragma once
// Time taken, for tests that check a deadline was kept.

#include <gtest/gtest.h>

#include <chrono>

namespace redis_session::test {

inline std::chrono::milliseconds since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
}

// Expects `elapsed` within +-20% of `target`.
inline void expect_near_deadline(std::chrono::milliseconds elapsed, std::chrono::milliseconds target) {
  EXPECT_GE(elapsed.count(), target.count() * 8 / 10) << "returned before the deadline";
  EXPECT_LE(elapsed.count(), target.count() * 12 / 10) << "overshot the deadline";
}

}  // namespace redis_session::test
