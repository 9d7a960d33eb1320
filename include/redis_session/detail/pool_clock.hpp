#pragma once
// The clock the pool ages its resources by (see the design notes in
// redis_session/pool.hpp).

#include <time.h>

#include <chrono>

namespace redis_session {
namespace detail {

using PoolTime = std::chrono::steady_clock::time_point;

// Shares steady_clock's epoch (CLOCK_MONOTONIC) but reads the last tick
// without touching the hardware counter: its few-ms resolution does not
// matter for aging. Still, a read is about 59 instructions (glibc's wrapper,
// then the vDSO), 1.5-2 ns; acquire and release take one each, which is
// most of what an uncontended cycle costs beyond its two lock pairs.
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

}  // namespace detail
}  // namespace redis_session
