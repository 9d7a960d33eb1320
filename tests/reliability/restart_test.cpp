// Scenario 1 of issue 7: Redis restarted (once with SIGTERM, once with
// SIGKILL) during a 20 s load from 8 threads through RedisPoolStore's public
// API. Goals: no crash; no call blocked longer than the library's deadlines
// allow; every failure a typed redis_session::Error; full rate again within
// 1 s of Redis being back; every acknowledged increment in the final count.
//
// The bound on one call. A call waits at most acquire_timeout for a pool
// slot, then opens a connection (connect_timeout covers TCP + CLIENT SETNAME)
// if it got no idle one, then runs one round trip (command_timeout). So the
// bound asserted is acquire_timeout + connect_timeout + command_timeout; the
// issue's "acquire + command" leaves out the connect, which is on the path of
// every call right after a restart. (8 threads over max_open = 4, so the
// acquire wait is exercised too.)
//
// Every time bound below is widened by the worst scheduling delay seen while
// the test ran (lateness_probe.hpp; printed as max_sched_late_ms): time the
// machine did not run this process is not the library's.
//
// Acknowledged writes: the server runs with appendfsync always, so an
// increment Redis answered is on disk before the answer leaves. The library
// never retries an increment; one that failed after its request may have
// reached Redis ("unknown outcome") may or may not be counted, one that
// failed before (no connection, no pool slot) is not.

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "redis_session/error.hpp"
#include "redis_session/redis_pool_store.hpp"
#include "lateness_probe.hpp"
#include "support/redis_server.hpp"

namespace redis_session {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test::RedisServer;

constexpr int threads = 8;
constexpr auto load_time = 20s;
constexpr auto bucket = 100ms;
constexpr int buckets = 260;  // 26 s of 100 ms buckets: the load plus slack

struct Counters {
  std::array<std::atomic<int>, buckets> ok{};
  std::array<std::atomic<int>, buckets> failed{};
  std::atomic<long long> max_block_us{0};
  std::mutex mutex;
  std::map<std::string, int> errors;  // by code, guarded by mutex
  std::vector<std::string> untyped;   // guarded by mutex
  std::vector<std::string> wrong;     // data checks that failed, guarded by mutex
};

int bucket_of(Clock::time_point start, Clock::time_point t) {
  auto i = (t - start) / bucket;
  return static_cast<int>(std::clamp<long long>(i, 0, buckets - 1));
}

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

TEST(RestartScenario, RedisRestartedUnderLoadLosesNoAcknowledgedWrite) {
  test::LatenessProbe probe;
  RedisServer server({.args = {"--appendonly", "yes", "--appendfsync", "always"}});
  RedisPoolStoreOptions options;
  options.connection = server.options();
  options.connection.connect_timeout = 1000ms;
  options.connection.command_timeout = 1000ms;
  options.pool.max_open = 4;
  options.pool.acquire_timeout = 1000ms;
  const auto bound = options.pool.acquire_timeout + options.connection.connect_timeout +
                     options.connection.command_timeout;
  RedisPoolStore store(options);

  // Each thread owns a counter session and a data session.
  auto counter_id = [](int t) { return "s1-counter-" + std::to_string(t); };
  auto data_id = [](int t) { return "s1-data-" + std::to_string(t); };
  for (int t = 0; t < threads; ++t) {
    SessionChanges create;
    create.mode = SessionChanges::Mode::create;
    create.set = {{"seq", 0}, {"owner", data_id(t)}};
    ASSERT_EQ(store.save(data_id(t), create), SaveResult::saved);
  }

  Counters c;
  std::array<long long, threads> acknowledged{};  // increments Redis answered
  std::array<long long, threads> unknown{};       // increments that failed after maybe reaching Redis
  std::array<long long, threads> calls{};
  std::atomic<bool> stop{false};
  const auto start = Clock::now();

  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      long long acked_seq = 0;    // the last save Redis answered
      long long tried_seq = 0;    // the last save attempted
      for (long long i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        const int op = static_cast<int>(i % 3);
        const auto call_start = Clock::now();
        bool ok = false;
        try {
          if (op == 0) {
            store.increment(counter_id(t), "n", 1, true);
            ++acknowledged[t];
          } else if (op == 1) {
            SessionChanges change;
            change.set = {{"seq", ++tried_seq}};
            if (store.save(data_id(t), change) == SaveResult::saved) {
              acked_seq = tried_seq;
            } else {
              std::lock_guard lock(c.mutex);
              c.wrong.push_back("save of " + data_id(t) + " reported the session gone");
            }
          } else {
            auto fields = store.load(data_id(t));
            long long seq = fields ? fields->at("seq").get<long long>() : -1;
            // A failed save may or may not have been applied: anything from
            // the last acknowledged to the last attempted is right.
            if (!fields || fields->at("owner") != data_id(t) || seq < acked_seq || seq > tried_seq) {
              std::lock_guard lock(c.mutex);
              c.wrong.push_back("load of " + data_id(t) + " gave seq " + std::to_string(seq) + ", expected " +
                                std::to_string(acked_seq) + ".." + std::to_string(tried_seq));
            }
          }
          ok = true;
        } catch (const Error& e) {
          if (op == 0 && e.errc() != Errc::connect_failed && e.errc() != Errc::pool_timeout) ++unknown[t];
          std::lock_guard lock(c.mutex);
          ++c.errors[e.code().message()];
        } catch (const std::exception& e) {
          std::lock_guard lock(c.mutex);
          c.untyped.push_back(e.what());
        }
        const auto call_end = Clock::now();
        ++calls[t];
        const long long us = std::chrono::duration_cast<std::chrono::microseconds>(call_end - call_start).count();
        long long seen = c.max_block_us.load();
        while (us > seen && !c.max_block_us.compare_exchange_weak(seen, us)) {
        }
        (ok ? c.ok : c.failed)[bucket_of(start, call_end)].fetch_add(1, std::memory_order_relaxed);
        if (!ok) std::this_thread::sleep_for(1ms);  // as a web server answering 503 would: no hot spin
      }
    });
  }

  // Two restarts: a clean one (SIGTERM, Redis flushes and exits) and a crash
  // (SIGKILL mid-write). "Back" is when the restarted server answers PING.
  // Down at `down_at` (by `how`), started again at `up_at`; both from `start`.
  const auto restart = [&](Clock::duration down_at, void (RedisServer::*how)(), Clock::duration up_at) {
    std::this_thread::sleep_until(start + down_at);
    const auto down = Clock::now();
    (server.*how)();
    std::this_thread::sleep_until(start + up_at);
    server.start();
    return std::pair(down, Clock::now());
  };
  const auto [down1, back1] = restart(4s, &RedisServer::stop, 6s);
  const auto [down2, back2] = restart(11s, &RedisServer::kill, 12500ms);
  std::this_thread::sleep_until(start + load_time);
  stop = true;
  for (auto& w : workers) w.join();
  const auto end = Clock::now();

  // Rates, in calls answered per 100 ms bucket. Single buckets on a shared
  // 2-core machine swing widely (other builds come and go), so:
  // - baseline: the median bucket of the calm before each restart;
  // - steady: the median bucket over [back + 1 s, back + 3 s);
  // - recovery: from "back" to the end of the last bucket with a failure;
  // - full rate: from "back" to the end of the first bucket that reaches 75%
  //   of min(baseline, steady), asserted within 1 s. The min keeps a machine
  //   that got busier meanwhile from failing the test; a store that stays
  //   slow after a restart would show in the steady/baseline ratio (printed)
  //   and, if it leaked pool slots, in the pool's state (asserted).
  auto median = [&](Clock::time_point from, Clock::time_point to) {
    std::vector<int> v;
    for (int i = bucket_of(start, from); i < bucket_of(start, to); ++i) v.push_back(c.ok[i].load());
    if (v.empty()) return 0.0;
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return static_cast<double>(v[v.size() / 2]);
  };
  auto last_failure_after = [&](Clock::time_point from, Clock::time_point to) {
    double last = 0;
    for (int i = bucket_of(start, from); i < bucket_of(start, to); ++i) {
      if (c.failed[i].load() > 0) last = ms_between(from, start + (i + 1) * bucket);
    }
    return std::max(0.0, last);
  };
  auto full_rate_after = [&](Clock::time_point from, Clock::time_point to, double baseline) {
    for (int i = bucket_of(start, from) + 1; i < bucket_of(start, to); ++i) {
      if (c.ok[i].load() >= 0.75 * baseline) return ms_between(from, start + (i + 1) * bucket);
    }
    return 1e9;
  };
  const double baseline1 = median(start + 1s, down1);
  const double baseline2 = median(back1 + 1s, down2);
  const double recovery1 = last_failure_after(back1, down2);
  const double recovery2 = last_failure_after(back2, end);
  const double steady1 = median(back1 + 1s, back1 + 3s);
  const double steady2 = median(back2 + 1s, back2 + 3s);
  const double full1 = full_rate_after(back1, down2, std::min(baseline1, steady1));
  const double full2 = full_rate_after(back2, end, std::min(baseline2, steady2));
  const double ratio1 = steady1 / baseline1;
  const double ratio2 = steady2 / baseline2;
  const PoolStats pool = store.pool().stats();

  long long total_calls = 0, total_failed = 0, total_acked = 0, total_unknown = 0;
  for (int i = 0; i < buckets; ++i) total_failed += c.failed[i].load();
  for (int t = 0; t < threads; ++t) total_calls += calls[t];
  for (int t = 0; t < threads; ++t) total_acked += acknowledged[t];
  for (int t = 0; t < threads; ++t) total_unknown += unknown[t];

  long long total_final = 0;
  for (int t = 0; t < threads; ++t) {
    auto fields = store.load(counter_id(t));
    ASSERT_TRUE(fields.has_value()) << counter_id(t);
    const long long final_count = fields->at("n").get<long long>();
    total_final += final_count;
    EXPECT_GE(final_count, acknowledged[t]) << "acknowledged increments lost on " << counter_id(t);
    EXPECT_LE(final_count, acknowledged[t] + unknown[t]) << "increments counted that never ran on " << counter_id(t);
  }

  const double late = probe.max_late_ms();
  std::printf("[ figures ] scenario1 threads=%d duration_s=%.1f calls=%lld failed=%lld max_block_ms=%.1f bound_ms=%lld "
              "max_sched_late_ms=%.1f\n",
              threads, ms_between(start, end) / 1000, total_calls, total_failed,
              static_cast<double>(c.max_block_us.load()) / 1000, static_cast<long long>(bound.count()), late);
  std::printf("[ figures ] scenario1 down_ms=%.0f,%.0f baseline_per_100ms=%.0f,%.0f recovery_ms=%.0f,%.0f "
              "full_rate_ms=%.0f,%.0f steady_to_baseline=%.2f,%.2f\n",
              ms_between(down1, back1), ms_between(down2, back2), baseline1, baseline2, recovery1, recovery2, full1,
              full2, ratio1, ratio2);
  std::printf("[ figures ] scenario1 increments_acknowledged=%lld unknown_outcome=%lld final=%lld lost=%lld\n", total_acked,
              total_unknown, total_final, std::max(0LL, total_acked - total_final));
  for (const auto& [code, n] : c.errors) std::printf("[ figures ] scenario1 error %s: %d\n", code.c_str(), n);

  EXPECT_TRUE(c.untyped.empty()) << "untyped failure: " << c.untyped.front();
  EXPECT_TRUE(c.wrong.empty()) << c.wrong.size() << " wrong results, first: " << c.wrong.front();
  EXPECT_LE(static_cast<double>(c.max_block_us.load()) / 1000, static_cast<double>(bound.count()) + late)
      << "a call blocked longer than acquire_timeout + connect_timeout + command_timeout";
  EXPECT_GT(total_failed, 0) << "the restarts went unnoticed: the scenario tested nothing";
  EXPECT_LE(recovery1, 1000.0 + late) << "failures more than 1 s after Redis was back (SIGTERM restart)";
  EXPECT_LE(recovery2, 1000.0 + late) << "failures more than 1 s after Redis was back (SIGKILL restart)";
  EXPECT_LE(full1, 1000.0 + late) << "not back to full rate within 1 s (SIGTERM restart)";
  EXPECT_LE(full2, 1000.0 + late) << "not back to full rate within 1 s (SIGKILL restart)";
  // No slot leaked across the restarts: every connection is back or closed.
  EXPECT_EQ(pool.in_use, 0u);
  EXPECT_EQ(pool.creating, 0u);
  EXPECT_EQ(pool.waiting, 0u);
  EXPECT_LE(pool.open, options.pool.max_open);
}

}  // namespace
}  // namespace redis_session
