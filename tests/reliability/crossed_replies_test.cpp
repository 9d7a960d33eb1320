// Scenario 3 of issue 7: replies that arrive after their call's deadline, and
// connections reset in the middle of a reply, never hand one caller another
// call's reply. 16 threads make 100,000 mixed calls (save, load, increment,
// exists, touch) through the fault proxy while it holds a random few replies
// back for exactly the command timeout (so they land around the deadline),
// cuts a random few in half and resets the connection, and now and then cuts
// every connection. Every reply is checked against what its own thread
// wrote:
// - each thread owns 4 sessions; each holds its own id ("owner"), a sequence
//   number ("seq") and a blob derived from both, so a reply meant for any
//   other session, or another version of this one, cannot pass;
// - a load returns a seq between the last acknowledged save and the last
//   attempted one (a failed save may or may not have been applied);
// - counters start at a different billion per session; an increment returns
//   more than the last value seen and at most one more per attempt so far.
// Any failure must be a typed connection, timeout or pool error.
//
// The full 100,000 calls run in every build: under TSan they take about 20 s
// on the development machine, so there is no need to scale them down.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "redis_session/error.hpp"
#include "redis_session/redis_pool_store.hpp"
#include "support/proxied_redis.hpp"
#include "support/sanitizers.hpp"

namespace redis_session {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test::build_kind;
using test::FaultProxy;

constexpr long long total_calls = 100000;
constexpr int threads = 16;
constexpr int sessions_per_thread = 4;

std::string blob(const std::string& id, long long seq) { return id + "/" + std::to_string(seq) + "/" + std::string(static_cast<std::size_t>(seq % 97), 'x'); }

struct Owned {
  std::string id;
  long long base = 0;       // the counter's start
  long long acked_seq = 0;  // last save Redis answered
  long long tried_seq = 0;  // last save attempted
  long long n_seen = 0;     // the counter's last value seen
  long long n_tries = 0;    // increments attempted (each adds at most 1)
};

struct Shared {
  std::mutex mutex;
  std::vector<std::string> crossed;    // replies that were not this call's
  std::map<std::string, long long> errors;  // by error code message
  std::vector<std::string> unexpected;  // failures that are not connection/timeout/pool errors
  std::atomic<long long> ok{0};
};

void crossed(Shared& shared, const std::string& what) {
  std::lock_guard lock(shared.mutex);
  if (shared.crossed.size() < 20) shared.crossed.push_back(what);
}

void check_fields(Shared& shared, const Owned& s, const std::optional<Fields>& fields) {
  if (!fields) return crossed(shared, "load of " + s.id + ": no session");
  const Fields& f = *fields;
  auto it_owner = f.find("owner"), it_seq = f.find("seq"), it_blob = f.find("blob"), it_n = f.find("n");
  if (it_owner == f.end() || it_seq == f.end() || it_blob == f.end() || it_n == f.end() || f.size() != 4) {
    return crossed(shared, "load of " + s.id + ": fields missing or extra");
  }
  if (it_owner->second != s.id) return crossed(shared, "load of " + s.id + " returned owner " + it_owner->second.dump());
  const long long seq = it_seq->second.get<long long>();
  if (seq < s.acked_seq || seq > s.tried_seq || it_blob->second != blob(s.id, seq)) {
    return crossed(shared, "load of " + s.id + ": seq " + std::to_string(seq) + " not in " +
                               std::to_string(s.acked_seq) + ".." + std::to_string(s.tried_seq));
  }
  const long long n = it_n->second.get<long long>();
  if (n < s.n_seen || n > s.base + s.n_tries) {
    crossed(shared, "load of " + s.id + ": n " + std::to_string(n) + " not in " + std::to_string(s.n_seen) + ".." +
                        std::to_string(s.base + s.n_tries));
  }
}

void one_call(RedisPoolStore& store, Shared& shared, Owned& s, int dice) {
  if (dice < 35) {
    SessionChanges change;
    const long long seq = ++s.tried_seq;
    change.set = {{"seq", seq}, {"blob", blob(s.id, seq)}};
    const SaveResult r = store.save(s.id, change);
    if (r != SaveResult::saved) return crossed(shared, "save of " + s.id + " was not saved");
    s.acked_seq = seq;
  } else if (dice < 70) {
    check_fields(shared, s, store.load(s.id));
  } else if (dice < 90) {
    ++s.n_tries;
    const auto v = store.increment(s.id, "n", 1, false);
    if (!v || *v <= s.n_seen || *v > s.base + s.n_tries) {
      return crossed(shared, "increment of " + s.id + " returned " + (v ? std::to_string(*v) : "gone") +
                                 ", expected " + std::to_string(s.n_seen + 1) + ".." +
                                 std::to_string(s.base + s.n_tries));
    }
    s.n_seen = *v;
  } else if (dice < 95) {
    if (!store.exists(s.id)) crossed(shared, "exists of " + s.id + " said no");
  } else {
    if (!store.touch(s.id)) crossed(shared, "touch of " + s.id + " said gone");
  }
}

TEST(CrossedRepliesScenario, NoCallerEverSeesAnotherCallsReply) {
  test::ProxiedRedis redis;
  FaultProxy& proxy = redis.proxy;
  const auto timeout = 200ms;
  RedisPoolStoreOptions options = test::store_via(proxy, timeout);
  options.pool.max_open = 8;
  options.pool.acquire_timeout = 2000ms;
  RedisPoolStore store(options);

  std::vector<std::vector<Owned>> owned(threads);
  for (int t = 0; t < threads; ++t) {
    for (int k = 0; k < sessions_per_thread; ++k) {
      Owned s;
      s.id = "s3-t" + std::to_string(t) + "-k" + std::to_string(k);
      s.base = (t * sessions_per_thread + k + 1) * 1000000000LL;
      s.n_seen = s.base;
      SessionChanges create;
      create.mode = SessionChanges::Mode::create;
      create.set = {{"owner", s.id}, {"seq", 0}, {"blob", blob(s.id, 0)}, {"n", s.base}};
      ASSERT_EQ(store.save(s.id, create), SaveResult::saved);
      owned[t].push_back(s);
    }
  }

  // The faults: replies held back for exactly the command timeout, replies
  // cut in half followed by a reset, and every connection cut now and then.
  proxy.set_random_delay(FaultProxy::Direction::to_client, 0.003, timeout);
  proxy.set_reset_probability(0.003);

  Shared shared;
  std::atomic<bool> done{false};
  const auto start = Clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t) * 7919u + 1u);
      for (long long i = 0; i < total_calls / threads; ++i) {
        Owned& s = owned[t][static_cast<std::size_t>(rng() % sessions_per_thread)];
        const int dice = static_cast<int>(rng() % 100);
        try {
          one_call(store, shared, s, dice);
          ++shared.ok;
        } catch (const Error& e) {
          const Errc code = e.errc();
          std::lock_guard lock(shared.mutex);
          ++shared.errors[e.code().message()];
          if (code != Errc::timeout && code != Errc::io_error && code != Errc::connect_failed &&
              code != Errc::pool_timeout) {
            shared.unexpected.push_back(e.what());
          }
        } catch (const std::exception& e) {
          std::lock_guard lock(shared.mutex);
          shared.unexpected.push_back(std::string("untyped: ") + e.what());
        }
      }
    });
  }
  std::thread cutter([&] {
    int cuts = 0;
    while (!done.load()) {
      std::this_thread::sleep_for(50ms);
      if (++cuts % 40 == 0) proxy.cut_all();  // every 2 s
    }
  });
  for (auto& w : workers) w.join();
  done = true;
  cutter.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();

  // Afterwards, with the faults off, every session holds exactly what its
  // owner last had acknowledged, or a later attempt.
  proxy.set_random_delay(FaultProxy::Direction::to_client, 0, 0ms);
  proxy.set_reset_probability(0);
  for (auto& mine : owned) {
    for (Owned& s : mine) check_fields(shared, s, store.load(s.id));
  }

  long long failed = 0;
  for (const auto& [code, n] : shared.errors) failed += n;
  std::printf("[ figures ] scenario3 build=%s threads=%d calls=%lld ok=%lld failed=%lld crossed=%zu seconds=%.1f "
              "late_replies=%llu resets_mid_reply=%llu connections=%llu\n",
              build_kind, threads, (total_calls / threads) * threads, shared.ok.load(), failed, shared.crossed.size(),
              seconds, static_cast<unsigned long long>(proxy.delayed_chunks()),
              static_cast<unsigned long long>(proxy.resets_mid_reply()),
              static_cast<unsigned long long>(proxy.accepted()));
  for (const auto& [code, n] : shared.errors) std::printf("[ figures ] scenario3 error %s: %lld\n", code.c_str(), n);

  EXPECT_TRUE(shared.crossed.empty()) << shared.crossed.size() << " replies reached the wrong caller, first: "
                                      << shared.crossed.front();
  EXPECT_TRUE(shared.unexpected.empty()) << shared.unexpected.size() << " unexpected failures, first: "
                                         << shared.unexpected.front();
  // The faults must actually have hit calls, or nothing was tested.
  EXPECT_GT(proxy.delayed_chunks(), 10u);
  EXPECT_GT(proxy.resets_mid_reply(), 10u);
  EXPECT_GT(shared.errors[make_error_code(Errc::timeout).message()], 0) << "no reply arrived after its deadline";
  EXPECT_GT(shared.ok.load(), total_calls / 2);
}

}  // namespace
}  // namespace redis_session
