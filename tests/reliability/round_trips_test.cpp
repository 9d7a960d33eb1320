// Issue 16's bar on the demo server (examples/demo_server/) with its default
// session options, counted by the redis-server itself: a request pays for
// what it uses. The demo runs as a child process against a throwaway
// redis-server; CONFIG RESETSTAT zeroes INFO commandstats just before the
// requests under test, so the counts are theirs alone (commands a script
// runs count too, under their own names: the increment script's HINCRBY,
// PEXPIRE, ... but never HGETALL).
//
// - GET /count with a live session: open() does not load it, the increment
//   script alone does the work (it increments and slides the expiry): no
//   HGETALL, one script call per request. Script calls are EVALSHA and EVAL
//   together, so a NOSCRIPT fallback (EVALSHA, then EVAL) counts as two.
// - GET /session with a live session: the one load (HGETALL + PEXPIRE) each.
// - /count loses no increment on the way: 2, 3, ... 201.

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "reliability/demo_process.hpp"
#include "support/redis_server.hpp"

#ifndef REDIS_SESSION_DEMO_PATH
#error "REDIS_SESSION_DEMO_PATH must name the demo_server executable"
#endif

namespace redis_session {
namespace {

constexpr int count_requests = 200;
constexpr int session_requests = 100;

class RoundTrips : public ::testing::Test {
 protected:
  void SetUp() override {
    redis_ = std::make_unique<test::RedisServer>();
    demo_ = std::make_unique<test::DemoProcess>(std::vector<std::string>{
        REDIS_SESSION_DEMO_PATH, "--listen", "127.0.0.1:0", "--redis", redis_->url(), "--threads", "2"});
    // The session the requests carry, made the ordinary way.
    test::HttpResult first = get("/count");
    ASSERT_EQ(first.status, 200) << first.head << "\n" << first.body;
    ASSERT_EQ(first.body, "1");
    ASSERT_EQ(first.set_cookies.size(), 1u) << first.head;
    sid_ = test::set_cookie_value(first.set_cookies[0]);
    ASSERT_FALSE(sid_.empty()) << first.set_cookies[0];
  }
  void TearDown() override {
    if (demo_) {
      EXPECT_EQ(demo_->stop(), 0) << "no clean exit on SIGTERM: " << demo_->how_it_ended();
    }
  }

  test::HttpResult get(const std::string& target, const std::string& sid = {}) {
    return test::raw_http(demo_->port(),
                          test::http_request("GET", target, sid.empty() ? "" : "Cookie: sid=" + sid + "\r\n"));
  }

  // The bodies of `n` GET `target` carrying the session's cookie, each
  // checked to answer 200 and to set no cookie (the session stays the same).
  std::vector<std::string> get_with_session(const std::string& target, int n) {
    std::vector<std::string> bodies;
    for (int i = 0; i < n; ++i) {
      test::HttpResult r = get(target, sid_);
      EXPECT_EQ(r.status, 200) << target << " #" << i << ": " << r.error << "\n" << r.head << "\n" << r.body;
      EXPECT_TRUE(r.set_cookies.empty()) << target << " #" << i << " set a cookie: " << r.set_cookies[0];
      bodies.push_back(r.body);
    }
    return bodies;
  }

  void reset_stats() { ASSERT_EQ(redis_->command({"CONFIG", "RESETSTAT"}).str, "OK"); }

  // INFO commandstats since the last reset: calls per command, lower case as
  // Redis names them ("hgetall", "evalsha"); absent means none.
  std::map<std::string, long long> calls() {
    std::map<std::string, long long> out;
    std::istringstream info(redis_->command({"INFO", "commandstats"}).str);
    const std::string prefix = "cmdstat_";
    const std::string field = ":calls=";
    for (std::string line; std::getline(info, line);) {
      const auto colon = line.find(field);
      if (line.rfind(prefix, 0) != 0 || colon == std::string::npos) continue;
      out[line.substr(prefix.size(), colon - prefix.size())] = std::stoll(line.substr(colon + field.size()));
    }
    return out;
  }

  static long long of(const std::map<std::string, long long>& calls, const std::string& command) {
    auto it = calls.find(command);
    return it == calls.end() ? 0 : it->second;
  }

  static std::string listing(const std::map<std::string, long long>& calls) {
    std::string out;
    for (const auto& [command, n] : calls) out += " " + command + "=" + std::to_string(n);
    return out.empty() ? " (none)" : out;
  }

  std::unique_ptr<test::RedisServer> redis_;
  std::unique_ptr<test::DemoProcess> demo_;
  std::string sid_;
};

TEST_F(RoundTrips, CountWithSessionSendsOnlyTheScript) {
  reset_stats();
  get_with_session("/count", count_requests);
  const auto seen = calls();
  std::cout << "GET /count x" << count_requests << " with a session; commandstats:" << listing(seen) << "\n";
  EXPECT_EQ(of(seen, "hgetall"), 0) << "open() or increment loaded the session it only increments;" << listing(seen);
  EXPECT_EQ(of(seen, "evalsha") + of(seen, "eval"), count_requests)
      << "script calls (EVALSHA + EVAL) are not one per request;" << listing(seen);
}

TEST_F(RoundTrips, CountWithSessionLosesNoIncrement) {
  const std::vector<std::string> bodies = get_with_session("/count", count_requests);
  for (int i = 0; i < count_requests; ++i) {
    ASSERT_EQ(bodies[i], std::to_string(i + 2)) << "request #" << i << " after the one that made the session";
  }
}

TEST_F(RoundTrips, SessionReadSendsOneLoadEach) {
  reset_stats();
  const std::vector<std::string> bodies = get_with_session("/session", session_requests);
  const auto seen = calls();
  std::cout << "GET /session x" << session_requests << " with a session; commandstats:" << listing(seen) << "\n";
  EXPECT_EQ(of(seen, "hgetall"), session_requests) << listing(seen);
  for (int i = 0; i < session_requests; ++i) {
    ASSERT_EQ(bodies[i], R"({"count":1})") << "request #" << i;
  }
}

}  // namespace
}  // namespace redis_session
