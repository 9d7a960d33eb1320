// Scenario 8 of the reliability suite: a soak. Four threads run a mixed
// request load through SessionManager and RedisPoolStore (new sessions,
// loads with and without a change, increments, logins that regenerate the
// id, logouts that destroy it) for REDIS_SESSION_SOAK_SECONDS (default 30;
// 600 by hand). Once a second the test samples the process's resident set
// (/proc/self/statm), the pool's open connections and Redis's
// connected_clients and key count.
//
// "Flat", after a warm-up of max(5 s, 20% of the run), comparing the first
// and the last quarter of the remaining samples:
// - connections: the pool never holds more than max_open; neither the
//   pool's open count nor Redis's connected_clients is higher in the last
//   quarter than in the first (an idle connection reaped is fine, growth is
//   not), and the pool opens at most 2 connections after warm-up;
// - memory: the median RSS of the last quarter is at most 2 MiB + 2% above
//   that of the first (checked in plain builds only: ASan's quarantine and
//   TSan's shadow memory grow by design; there LeakSanitizer, which runs at
//   exit in the ASan flavour, is the leak check);
// - Redis: at most 4 x 64 sessions live (each thread keeps 64 at most), so
//   nothing leaks there either; and no call failed.

#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "redis_session/error.hpp"
#include "redis_session/redis_pool_store.hpp"
#include "redis_session/session_manager.hpp"
#include "support/redis_server.hpp"
#include "support/sanitizers.hpp"

// Under a sanitizer the RSS check is printed, not asserted (see above).
#ifdef REDIS_SESSION_SANITIZED
constexpr bool sanitized = true;
#else
constexpr bool sanitized = false;
#endif

namespace redis_session {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int threads = 4;
constexpr std::size_t live_per_thread = 64;
constexpr std::size_t max_open = 8;

double mib(long bytes) { return static_cast<double>(bytes) / 1048576.0; }

long rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * ::sysconf(_SC_PAGESIZE);
}

long long info_field(redis::Connection& c, const std::string& section, const std::string& name) {
  std::string info = c.command({"INFO", section}).str;
  auto at = info.find(name + ":");
  return at == std::string::npos ? -1 : std::atoll(info.c_str() + at + name.size() + 1);
}

struct Sample {
  double at;  // seconds since the start
  long rss;
  std::size_t pool_open;
  std::uint64_t pool_created;
  long long clients;  // Redis connected_clients, the sampler's own included
  long long keys;
  std::uint64_t ops;
};

template <class T, class F>
T median_of(const std::vector<Sample>& s, F field) {
  std::vector<T> v;
  for (const Sample& x : s) v.push_back(field(x));
  std::sort(v.begin(), v.end());
  return v.empty() ? T{} : v[v.size() / 2];
}
template <class T, class F>
T max_of(const std::vector<Sample>& s, F field) {
  T m{};
  for (const Sample& x : s) m = std::max<T>(m, field(x));
  return m;
}

// One thread's share of the load: a browser population of at most 64 live
// sessions, each request one open/act/commit as a web handler does it.
void worker(SessionManager& manager, int index, std::atomic<bool>& stop, std::atomic<std::uint64_t>& ops,
            std::atomic<std::uint64_t>& errors, std::string& first_error, std::mutex& error_mutex) {
  std::mt19937 rng(static_cast<unsigned>(index) * 7919u + 17u);
  std::vector<std::string> live;
  const std::string payload(200, 'p');
  while (!stop.load(std::memory_order_relaxed)) {
    try {
      int r = static_cast<int>(rng() % 100);
      if (live.empty() || r < 15) {
        if (live.size() >= live_per_thread) {  // keep the population bounded: one logs out
          Session old = manager.open("sid=" + live.front());
          old.destroy();
          manager.commit(old);
          live.erase(live.begin());
        }
        Session s = manager.open("");
        s.set("user", "user" + std::to_string(rng() % 1000));
        s.set("cart", payload);
        manager.commit(s);
        live.push_back(s.id());
      } else {
        std::string& id = live[rng() % live.size()];
        Session s = manager.open("sid=" + id);
        if (r < 55) {  // a read, sometimes a write of one field
          (void)s.get_or("user", "guest");
          if (r % 2 == 0) s.set("seen", static_cast<long long>(rng()));
        } else if (r < 80) {
          s.increment("visits");
        } else if (r < 90) {
          s.regenerate();  // a login
          s.set("user", "logged-in");
        } else {
          s.destroy();  // a logout
        }
        manager.commit(s);
        if (s.destroyed()) {
          id = live.back();
          live.pop_back();
        } else {
          id = s.id();  // new after a regenerate, or after the session expired
        }
      }
      ops.fetch_add(1, std::memory_order_relaxed);
    } catch (const Error& e) {
      if (errors.fetch_add(1) == 0) {
        std::lock_guard<std::mutex> lock(error_mutex);
        first_error = e.what();
      }
    }
  }
}

TEST(Soak, MixedLoadKeepsMemoryAndConnectionsFlat) {
  int seconds = 30;
  if (const char* env = std::getenv("REDIS_SESSION_SOAK_SECONDS")) seconds = std::max(10, std::atoi(env));
  test::RedisServer server;
  RedisPoolStoreOptions o;
  o.url = server.url();
  o.pool.max_open = max_open;
  o.pool.max_idle = max_open;
  // Deadlines are scenario 2's subject, not this one's: on a machine shared
  // with compilers a thread can sit unscheduled for over a second, which the
  // default 1 s command deadline would report as a failure of the soak.
  o.connection.command_timeout = 10s;
  o.connection.connect_timeout = 10s;
  o.pool.acquire_timeout = 10s;
  auto store = std::make_shared<RedisPoolStore>(o);
  SessionManager manager(store);
  redis::Connection sampler(server.options());

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> ops{0}, errors{0};
  std::string first_error;
  std::mutex error_mutex;
  std::vector<std::thread> workers;
  const auto start = Clock::now();
  for (int i = 0; i < threads; ++i) {
    workers.emplace_back(worker, std::ref(manager), i, std::ref(stop), std::ref(ops), std::ref(errors),
                         std::ref(first_error), std::ref(error_mutex));
  }

  std::vector<Sample> samples;
  std::size_t most_open = 0;
  const int print_every = std::max(1, seconds / 10);
  for (int second = 1; second <= seconds; ++second) {
    std::this_thread::sleep_until(start + std::chrono::seconds(second));
    PoolStats p = store->pool().stats();
    Sample s{std::chrono::duration<double>(Clock::now() - start).count(),
             rss_bytes(),
             p.open,
             p.created,
             info_field(sampler, "clients", "connected_clients"),
             sampler.command({"DBSIZE"}).integer,
             ops.load()};
    most_open = std::max(most_open, p.open);
    samples.push_back(s);
    if (second % print_every == 0) {
      std::printf("[ sample ] t=%4.0fs rss=%6.1f MiB pool_open=%zu created=%llu redis_clients=%lld keys=%lld ops=%llu\n",
                  s.at, mib(s.rss), s.pool_open, static_cast<unsigned long long>(s.pool_created), s.clients,
                  s.keys, static_cast<unsigned long long>(s.ops));
      std::fflush(stdout);
    }
  }
  stop = true;
  for (auto& t : workers) t.join();

  EXPECT_EQ(errors.load(), 0u) << "first: " << first_error;
  EXPECT_LE(most_open, max_open);

  const std::size_t warm = static_cast<std::size_t>(std::max(5, seconds / 5));
  ASSERT_GT(samples.size(), warm + 4);
  std::vector<Sample> steady(samples.begin() + static_cast<long>(warm), samples.end());
  const std::size_t quarter = std::max<std::size_t>(1, steady.size() / 4);
  std::vector<Sample> first(steady.begin(), steady.begin() + static_cast<long>(quarter));
  std::vector<Sample> last(steady.end() - static_cast<long>(quarter), steady.end());

  auto open = [](const Sample& s) { return s.pool_open; };
  auto clients = [](const Sample& s) { return s.clients; };
  auto rss = [](const Sample& s) { return s.rss; };
  auto keys = [](const Sample& s) { return s.keys; };
  EXPECT_LE(max_of<std::size_t>(last, open), max_of<std::size_t>(first, open)) << "pool connections grew";
  EXPECT_LE(max_of<long long>(last, clients), max_of<long long>(first, clients)) << "Redis clients grew";
  EXPECT_LE(steady.back().pool_created - steady.front().pool_created, 2u) << "connections churned after warm-up";
  EXPECT_LE(max_of<long long>(samples, keys), static_cast<long long>(threads * live_per_thread));

  const long rss_first = median_of<long>(first, rss), rss_last = median_of<long>(last, rss);
  const long tolerance = 2 * 1048576 + rss_first / 50;
  const double minutes = (steady.back().at - steady.front().at) / 60.0;
  const double rate = static_cast<double>(samples.back().ops) / samples.back().at;
  std::printf("[ figures ] soak %d s, %d threads: %llu requests (%.0f/s), %llu errors; RSS median %.1f -> %.1f MiB "
              "after warm-up (%+.1f KiB/min, tolerance %.1f MiB%s); pool open max %zu of %zu, created %llu "
              "(%llu after warm-up); Redis clients %lld -> %lld; keys max %lld\n",
              seconds, threads, static_cast<unsigned long long>(samples.back().ops), rate,
              static_cast<unsigned long long>(errors.load()), mib(rss_first), mib(rss_last),
              minutes > 0 ? mib(rss_last - rss_first) * 1024.0 / minutes : 0.0, mib(tolerance),
              sanitized ? ", not asserted under a sanitizer" : "", most_open, max_open,
              static_cast<unsigned long long>(samples.back().pool_created),
              static_cast<unsigned long long>(steady.back().pool_created - steady.front().pool_created),
              max_of<long long>(first, clients), max_of<long long>(last, clients), max_of<long long>(samples, keys));
  if (!sanitized) {
    EXPECT_LE(rss_last, rss_first + tolerance) << "resident memory grew";
  }
}

}  // namespace
}  // namespace redis_session
