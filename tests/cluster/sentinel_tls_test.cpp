// Sentinel over TLS (issue 8): the data nodes replicate over TLS
// (tls-replication yes), the sentinels monitor and name their TLS ports, and
// the store, given rediss+sentinel://, reaches the master over TLS verified
// against the test CA. A SENTINEL FAILOVER under load and then a failback to
// the first master: each within the failover time plus 1 s, no acknowledged
// write missing on the master that serves afterwards.
//
// Under TLS ConnectionOptions::endpoint() reads "rediss://host:port" while
// the sentinels and ROLE speak of "host:port". The store compared the two:
// it took the master it followed for a replica claiming to be master (and
// held writes back for the whole promotion fence), and once it had left a
// master it never recognised it again, so a failback was refused for good.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/redis_server.hpp"
#include "topology_helpers.hpp"

namespace redis_session::test {
namespace {

using namespace std::chrono_literals;

constexpr int threads = 4;
const std::string ns = "tls_sentinel";

SentinelGroupOptions tls_group() {
  SentinelGroupOptions o;
  o.tls = true;
  // SENTINEL FAILOVER does not wait for down_after; a longer one keeps a
  // node busy with TLS handshakes on a loaded machine from being taken for
  // down in the middle of the test.
  o.down_after = 5000ms;
  return o;
}

RedisPoolStoreOptions store_options(const SentinelGroup& group) {
  RedisPoolStoreOptions options;
  std::string url = "rediss+sentinel://";
  for (const std::string& s : group.sentinels()) url += (url.back() == '/' ? "" : ",") + s;
  options.url = url + "/" + group.master_name();
  options.connection.tls.ca_file = TlsMaterial::get().ca_file;
  options.key_namespace = ns;
  options.pool.max_open = threads;
  options.pool.max_idle = threads;
  return options;
}

// The hash of a session on a data node, fields as integers.
std::map<std::string, long long> hash_on(const SentinelGroup& group, const std::string& address,
                                         const std::string& id) {
  const redis::Reply r = asked_again([&] { return group.data_command(address, {"HGETALL", ns + ":" + id}); });
  std::map<std::string, long long> m;
  for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) {
    if (!r.elements[i].str.empty() && r.elements[i].str[0] == '\0') continue;  // the store's metadata
    m[r.elements[i].str] = std::stoll(r.elements[i + 1].str);
  }
  return m;
}

struct Round {
  long long failover_ms = -1;  // SENTINEL FAILOVER -> all sentinels name the new master
  long long served_ms = -1;    // SENTINEL FAILOVER -> start of the first acknowledged write started after the switch
  long long recovery_ms = 0;   // SENTINEL FAILOVER -> first success after the last failed call
  long long calls = 0;
  long long failed = 0;
  int failed_after_switch_plus_1s = 0;
  std::string errors;
};

// 4 threads run load/save/increment on their own session (load.hpp checks
// every answer against what was acknowledged) while the sentinels fail over
// from `from` to `to`.
Round fail_over_under_load(SentinelGroup& group, RedisPoolStore& store, std::vector<ModelSession>& sessions,
                           const std::string& from, const std::string& to) {
  LoadStats stats;
  std::mutex mutex;
  std::vector<AckedWrite> acked;
  std::vector<Clock::time_point> success_ends;
  Workers workers(threads, [&](int t, const std::atomic<bool>& stop) {
    std::vector<AckedWrite> mine;
    std::vector<Clock::time_point> ends;
    for (long long i = t; !stop.load(); ++i) {
      if (run_op(store, sessions[t], i, stats, &mine)) ends.push_back(Clock::now());
      std::this_thread::sleep_for(2ms);
    }
    std::lock_guard<std::mutex> lock(mutex);
    acked.insert(acked.end(), mine.begin(), mine.end());
    success_ends.insert(success_ends.end(), ends.begin(), ends.end());
  });
  wait_for_ops(stats.ops, 100);
  const Failover failover = fail_over(group, from);
  const Clock::time_point sent = failover.sent;
  const Clock::time_point switched = failover.switched;
  std::string failure = failover.failure;
  if (failure.empty() && failover.new_master != to) {
    failure = "the sentinels chose " + failover.new_master + ", expected " + to;
  }
  workers.stop_and_join();
  EXPECT_EQ(failure, "");

  Round round;
  round.failover_ms = ms_between(sent, switched);
  round.calls = stats.ops.load();
  round.failed = stats.errors.load();
  round.errors = stats.summary();
  const Recovery recovery = recovery_of(stats, success_ends, sent, switched + 1000ms);
  round.failed_after_switch_plus_1s = recovery.failed_late;
  round.recovery_ms = recovery.recovery_ms;
  Clock::time_point served = Clock::time_point::max();
  for (const AckedWrite& w : acked) {
    if (w.start >= switched) served = std::min(served, w.start);
  }
  if (served != Clock::time_point::max()) round.served_ms = ms_between(sent, served);

  EXPECT_EQ(stats.untyped_errors, 0) << round.errors;
  EXPECT_EQ(stats.mismatches, 0) << round.errors;
  EXPECT_GE(round.served_ms, 0) << "no write was acknowledged after the switch: " << round.errors;
  EXPECT_EQ(round.failed_after_switch_plus_1s, 0) << round.errors;
  EXPECT_GE(round.recovery_ms, 0) << "no call succeeded after the last error: " << round.errors;
  EXPECT_LE(round.recovery_ms, round.failover_ms + 1000) << round.errors;

  // Every session, read back through the store (which settles any call that
  // failed), is what the new master holds: nothing acknowledged went to the
  // old one.
  for (ModelSession& s : sessions) {
    for (int attempt = 0; attempt < 3 && !run_op(store, s, 0, stats); ++attempt) std::this_thread::sleep_for(200ms);
    EXPECT_FALSE(s.uncertain) << s.id << ": " << stats.summary();
    std::map<std::string, long long> expected = s.fields;
    expected["n"] = s.n;
    EXPECT_EQ(hash_on(group, to, s.id), expected) << s.id << " on the new master " << to;
  }
  return round;
}

void print(const char* what, const Round& r) {
  std::printf(
      "[figure] TLS sentinel %s: the sentinels named the new master %lld ms after SENTINEL FAILOVER; "
      "the first acknowledged write after the switch started %lld ms after it (%lld ms after the switch); "
      "%lld failed calls of %lld; "
      "recovery %lld ms, limit %lld ms\n",
      what, r.failover_ms, r.served_ms, r.served_ms - r.failover_ms, r.failed, r.calls, r.recovery_ms,
      r.failover_ms + 1000);
  if (r.failed > 0) std::printf("[figure] TLS sentinel %s: errors: %s\n", what, r.errors.c_str());
}

TEST(SentinelTls, TheMasterIsReachedOverTlsOnly) {
  SentinelGroup group(tls_group());
  const std::string master = group.agreed_master();
  ASSERT_EQ(master, group.data_address(0));
  // The address the sentinels give answers TLS, not plain RESP.
  EXPECT_THROW(node_command(master, {"PING"}), Error);
  EXPECT_EQ(group.data_command(master, {"PING"}).str, "PONG");

  RedisPoolStore store(store_options(group));
  ASSERT_EQ(store.save("tls-reach", creating({{"n", 7}})), SaveResult::saved);
  EXPECT_EQ(store.increment("tls-reach", "n", 1, false), std::optional<long long>(8));
  EXPECT_EQ(hash_on(group, master, "tls-reach").at("n"), 8);

  // Without the CA the store refuses the node's certificate: a typed error.
  RedisPoolStoreOptions untrusted = store_options(group);
  untrusted.connection.tls.ca_file = TlsMaterial::get().other_ca_file;
  untrusted.key_namespace = "untrusted";
  RedisPoolStore refused(untrusted);
  const Clock::time_point start = Clock::now();
  EXPECT_THROW(refused.load("tls-reach"), Error);
  const long long refused_ms = ms_between(start, Clock::now());
  std::printf("[figure] TLS sentinel: a master whose certificate the CA did not sign is refused after %lld ms\n",
              refused_ms);
  EXPECT_LT(refused_ms, 5000);  // within retry_window (2 s), not a hang
}

TEST(SentinelTls, AFailoverAndAFailbackUnderLoad) {
  SentinelGroup group(tls_group());
  const std::string first = group.data_address(0);
  const std::string second = group.data_address(1);
  ASSERT_EQ(group.agreed_master(), first);
  RedisPoolStore store(store_options(group));
  std::vector<std::string> ids;
  for (int t = 0; t < threads; ++t) ids.push_back("tls-load-" + std::to_string(t));
  std::vector<ModelSession> sessions = create_sessions(store, ids);

  const Round failover = fail_over_under_load(group, store, sessions, first, second);
  print("failover", failover);
  // The old master rejoins as a replica of the new one; then back again.
  group.wait_ready();
  const Round failback = fail_over_under_load(group, store, sessions, second, first);
  print("failback", failback);
}

}  // namespace
}  // namespace redis_session::test
