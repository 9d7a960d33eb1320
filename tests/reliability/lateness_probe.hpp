#pragma once
// How late this process gets the CPU back: a thread asks to sleep 5 ms, over
// and over, and records how much longer each sleep took. On a shared machine
// (CI runs tests two at a time; developers' machines run builds beside them)
// a process may not run at all for a while, and no deadline can be kept to
// better than that. The reliability scenarios add max_late() to the upper
// bounds of their timing checks and print it, so a test fails for the
// library being late, not for the machine being busy.
//
// Thread safety: max_late() may be called from any thread.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "support/non_copyable.hpp"

namespace redis_session::test {

// A duration in milliseconds, as the timing checks compare and print it.
template <class Rep, class Period>
double ms(std::chrono::duration<Rep, Period> d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

class LatenessProbe : NonCopyable {
 public:
  LatenessProbe() : thread_([this] { run(); }) {}
  ~LatenessProbe() {
    stop_ = true;
    thread_.join();
  }

  // The worst lateness seen so far.
  std::chrono::milliseconds max_late() const { return std::chrono::milliseconds(max_late_us_.load() / 1000); }
  double max_late_ms() const { return static_cast<double>(max_late_us_.load()) / 1000.0; }

 private:
  void run() {
    using Clock = std::chrono::steady_clock;
    constexpr auto nap = std::chrono::milliseconds(5);
    while (!stop_.load()) {
      const auto before = Clock::now();
      std::this_thread::sleep_for(nap);
      const long long late =
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - before - nap).count();
      long long seen = max_late_us_.load();
      while (late > seen && !max_late_us_.compare_exchange_weak(seen, late)) {
      }
    }
  }

  std::atomic<bool> stop_{false};
  std::atomic<long long> max_late_us_{0};
  std::thread thread_;
};

}  // namespace redis_session::test
