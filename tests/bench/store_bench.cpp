// "Load a 1 KB, 10-field session, change one field, save" in a loop on T
// threads, for T = 1, 2, 4, 8, three ways in one run against one Redis:
//   store  RedisPoolStore (max_open = T)
//   raw    hiredis, one context per thread, sending byte-identical requests
//          (the same HGETALL+PEXPIRE pipeline, the same EVALSHA save), so
//          store/raw is what the library itself costs: pool, codec, keys,
//          errors. Goal: ratio >= 0.90 at every T.
//   naive  GET/SET of one JSON blob per session, as express-session does;
//          printed without a goal, to show what stronger semantics cost.
// Each T runs store, raw and naive back to back, in 15 rounds of 500 ms (the
// store/raw order flipped each round); the ratio is the median of the
// rounds' store/raw ratios (each pair ran within a second), and the rates
// shown are the medians too. On a shared 2-core machine single runs drift by
// 10%; paired rounds much less.

#include <hiredis/hiredis.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdlib>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "redis_session/detail/lua_scripts.hpp"
#include "redis_session/redis_pool_store.hpp"
#include "support/bench.hpp"

namespace {

using namespace redis_session;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr int sessions_per_thread = 32;
constexpr int fields = 10;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string session_id(int thread, int i) { return "bench-" + std::to_string(thread) + "-" + std::to_string(i); }

Fields make_session() {
  Fields f;
  for (int i = 0; i < fields; ++i) f["field" + std::to_string(i)] = std::string(90, static_cast<char>('a' + i));
  return f;
}

// CPU time (user + system) this process has used so far, in microseconds.
double process_cpu_us() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto us = [](const timeval& t) { return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_usec); };
  return us(u.ru_utime) + us(u.ru_stime);
}

struct Rate {
  double ops_per_s = 0;
  double cpu_us_per_op = 0;  // this process's CPU (all threads) per iteration
};

// Runs `body(thread, iteration)` on `threads` threads for `duration`.
template <class Body>
Rate rate(int threads, std::chrono::milliseconds duration, Body body) {
  std::atomic<bool> go{false}, stop{false};
  std::atomic<long> total{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      while (!go) std::this_thread::yield();
      long n = 0;
      while (!stop.load(std::memory_order_relaxed)) body(t, n++);
      total += n;
    });
  }
  const double cpu_start = process_cpu_us();
  auto start = Clock::now();
  go = true;
  std::this_thread::sleep_for(duration);
  stop = true;
  for (auto& th : pool) th.join();
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const double n = static_cast<double>(total.load());
  return {n / seconds, (process_cpu_us() - cpu_start) / n};
}

struct RawContext {
  redisContext* c;
  explicit RawContext(const redis::ConnectionOptions& o) {
    c = o.unix_path.empty() ? redisConnect(o.host.c_str(), o.port) : redisConnectUnix(o.unix_path.c_str());
    if (c == nullptr || c->err != 0) {
      std::fprintf(stderr, "hiredis cannot connect to %s\n", o.endpoint().c_str());
      std::exit(1);
    }
    if (!o.password.empty()) command({"AUTH", o.password});
    if (o.db != 0) command({"SELECT", std::to_string(o.db)});
  }
  ~RawContext() { redisFree(c); }
  void append(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data());
  }
  redisReply* reply() {
    void* r = nullptr;
    if (redisGetReply(c, &r) != REDIS_OK || r == nullptr) {
      std::fprintf(stderr, "hiredis: %s\n", c->errstr);
      std::exit(1);
    }
    return static_cast<redisReply*>(r);
  }
  void command(const std::vector<std::string>& args) {
    append(args);
    freeReplyObject(reply());
  }
};

}  // namespace

int main(int argc, char** argv) {
  auto args = test::BenchArgs::parse(argc, argv);
  test::BenchServer server(args.redis_url);
  const auto duration = std::chrono::milliseconds(args.quick ? 150 : 500);
  const int repeats = args.quick ? 1 : 15;
  std::vector<int> thread_counts = {1, 2, 4, 8};
  for (std::size_t i = 1; i + 1 < args.rest.size(); ++i) {  // --threads N: just that T (for profiling)
    if (std::string(args.rest[i]) == "--threads") thread_counts = {std::atoi(args.rest[i + 1])};
  }
  const redis::ConnectionOptions connection = redis::parse_url(server.url());

  RedisPoolStoreOptions options;
  options.url = server.url();
  options.key_namespace = "bench";
  const std::string idle = std::to_string(options.expiry.idle_timeout.count());

  // Seed the sessions once, through the store (hashes) and as blobs (naive).
  {
    RedisPoolStore seed(options);
    RawContext raw(connection);
    for (int t = 0; t < 8; ++t) {
      for (int i = 0; i < sessions_per_thread; ++i) {
        seed.destroy(session_id(t, i));
        seed.save(session_id(t, i), {SessionChanges::Mode::create, make_session(), {}});
        json blob(make_session());
        raw.command({"SET", "naive:" + session_id(t, i), blob.dump(), "PX", idle});
      }
    }
  }
  const auto& save = detail::script(detail::Script::save);

  std::printf("store_bench: load 1 KB / 10 fields, change 1, save; %s; medians of %d rounds x %lld ms\n",
              connection.endpoint().c_str(), repeats, static_cast<long long>(duration.count()));
  bool all_met = true;
  for (int threads : thread_counts) {
    // One store and one set of hiredis contexts per T, connected and warmed
    // before the first timed round, so no round times a connect.
    RedisPoolStoreOptions o = options;
    o.pool.max_open = static_cast<std::size_t>(threads);
    o.pool.max_idle = static_cast<std::size_t>(threads);
    RedisPoolStore store(o);
    std::vector<std::unique_ptr<RawContext>> contexts;
    for (int t = 0; t < threads; ++t) contexts.push_back(std::make_unique<RawContext>(connection));

    auto store_op = [&](int t, long n) {
      std::string id = session_id(t, static_cast<int>(n % sessions_per_thread));
      auto fields_loaded = store.load(id);
      if (!fields_loaded || fields_loaded->size() != fields) std::abort();
      SessionChanges changes;
      changes.set["field3"] = "value-" + std::to_string(n);
      if (store.save(id, changes) != SaveResult::saved) std::abort();
    };
    auto raw_op = [&](int t, long n) {
      RawContext& raw = *contexts[static_cast<std::size_t>(t)];
      std::string key = "bench:" + session_id(t, static_cast<int>(n % sessions_per_thread));
      raw.append({"HGETALL", key});
      raw.append({"PEXPIRE", key, idle});
      redisReply* hash = raw.reply();
      // The fields, the creation time "\0c" and the create's token "\0w".
      if (hash->type != REDIS_REPLY_ARRAY || hash->elements != 2 * (fields + 2)) std::abort();
      freeReplyObject(hash);
      freeReplyObject(raw.reply());
      std::string value = json("value-" + std::to_string(n)).dump();
      raw.append({"EVALSHA", save.sha, "1", key, idle, "0", "u", "1", "field3", value});
      redisReply* saved = raw.reply();
      if (saved->type != REDIS_REPLY_STRING) std::abort();
      freeReplyObject(saved);
    };
    auto naive_op = [&](int t, long n) {
      RawContext& raw = *contexts[static_cast<std::size_t>(t)];
      std::string key = "naive:" + session_id(t, static_cast<int>(n % sessions_per_thread));
      raw.append({"GET", key});
      redisReply* r = raw.reply();
      json blob = json::parse(std::string(r->str, r->len));
      freeReplyObject(r);
      blob["field3"] = "value-" + std::to_string(n);
      raw.command({"SET", key, blob.dump(), "PX", idle});
    };
    const auto warm_up = std::chrono::milliseconds(50);
    rate(threads, warm_up, store_op);
    rate(threads, warm_up, raw_op);
    rate(threads, warm_up, naive_op);

    std::vector<double> stores, raws, naives, ratios, store_cpu, raw_cpu;
    for (int rep = 0; rep < repeats; ++rep) {
      // Store and raw back to back, the order flipped every round, so a
      // drift of the machine during a pair favours neither side.
      for (int side = 0; side < 2; ++side) {
        if ((side == 0) == (rep % 2 == 0)) {
          const Rate r = rate(threads, duration, store_op);
          stores.push_back(r.ops_per_s);
          store_cpu.push_back(r.cpu_us_per_op);
        } else {
          const Rate r = rate(threads, duration, raw_op);
          raws.push_back(r.ops_per_s);
          raw_cpu.push_back(r.cpu_us_per_op);
        }
      }
      naives.push_back(rate(threads, duration, naive_op).ops_per_s);
    }
    for (std::size_t i = 0; i < stores.size(); ++i) ratios.push_back(stores[i] / raws[i]);
    double ratio = median(ratios);
    double med_store = median(stores), med_raw = median(raws), med_naive = median(naives);
    all_met = all_met && ratio >= 0.90;
    std::printf("T=%d naive GET/SET blob: %.0f ops/s (no goal)\n", threads, med_naive);
    std::printf("T=%d client CPU per op: store %.1f us, raw hiredis %.1f us (no goal)\n", threads, median(store_cpu),
                median(raw_cpu));
    std::printf("T=%d store %.0f ops/s, raw hiredis %.0f ops/s, goal >= 0.90, ratio=%.3f\n", threads, med_store,
                med_raw, ratio);
    std::fflush(stdout);
  }
  std::printf("store_bench: %s\n", all_met ? "every T met the goal" : "some T missed the goal");
  return 0;
}
