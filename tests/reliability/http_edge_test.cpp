// Scenario 6 of the reliability suite: hostile input at the HTTP edge. The
// demo server (examples/demo_server/) runs as a child process against a
// throwaway redis-server, and raw sockets send it what a browser never would:
// overlong cookies, CR/LF/NUL inside them, glob characters, hundreds of
// duplicate session cookies, other namespaces' keys and "session:..." as ids,
// well-formed ids that exist nowhere, and huge, invalid, deeply nested or
// non-UTF-8 JSON bodies.
//
// Every test checks, at its end (TearDown):
// - every request got an HTTP response, none a 5xx, each in its expected set;
// - the server process is alive and still serves;
// - MONITOR saw every command the server sent to Redis, and each key
//   argument is "session:" + an id that passes is_valid_session_id (22
//   base64url characters): nothing reached Redis as a key the id check did
//   not pass;
// - no key outside that shape changed (type, DUMP bytes, expiry), and the
//   sessions no request could legitimately name (a victim's) did not change.
//
// The demo is built with the test's flags, so in the sanitizer flavours it
// runs under ASan+UBSan or TSan too (see CMakeLists.txt).

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "redis_session/redis_pool_store.hpp"
#include "redis_session/session_id.hpp"
#include "reliability/demo_process.hpp"
#include "reliability/redis_snapshot.hpp"
#include "support/redis_server.hpp"

#ifndef REDIS_SESSION_DEMO_PATH
#error "REDIS_SESSION_DEMO_PATH must name the demo_server executable"
#endif

namespace redis_session {
namespace {

using test::http_request;
using test::HttpResult;
using test::raw_http;
using test::set_cookie_value;

struct Hostile {
  std::string name;
  std::string request;
  std::set<int> expected;  // acceptable statuses
  // Optional further check of the response.
  std::function<void(const HttpResult&)> check = nullptr;
};

bool is_session_key(const std::string& key) {
  return key.rfind("session:", 0) == 0 && is_valid_session_id(std::string_view(key).substr(8));
}

class HttpEdgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    redis_ = std::make_unique<test::RedisServer>();
    raw_ = std::make_unique<redis::Connection>(redis_->options());
    demo_ = std::make_unique<test::DemoProcess>(std::vector<std::string>{
        REDIS_SESSION_DEMO_PATH, "--listen", "127.0.0.1:0", "--redis", redis_->url(), "--threads", "2"});
    // Two sessions made the ordinary way: the victim's, whose id no hostile
    // request carries, and "mine", which the body tests use.
    victim_ = new_session();
    mine_ = new_session();
    // Keys a confused key policy could reach: another namespace's session
    // under an id of the right shape, keys sharing the prefix.
    other_id_ = generate_session_id();
    RedisPoolStoreOptions o;
    o.url = redis_->url();
    o.key_namespace = "other";
    RedisPoolStore other(o);
    ASSERT_EQ(other.save(other_id_, {SessionChanges::Mode::create, {{"user", "eve"}}, {}}), SaveResult::saved);
    raw_->command({"SET", "sessionX:" + victim_, "prefix without the colon"});
    raw_->command({"SET", "session", "the bare namespace"});
    raw_->command({"SET", "*", "a key named star"});
    before_ = test::snapshot(*raw_);
    monitor_ = std::make_unique<test::RedisMonitor>(redis_->port());
  }

  void TearDown() override {
    ASSERT_TRUE(demo_->alive()) << "the demo died: " << demo_->how_it_ended();
    HttpResult plain = raw_http(demo_->port(), http_request("GET", "/plain"));
    EXPECT_EQ(plain.status, 200) << "the demo no longer serves";

    const std::string marker = "end-of-test-" + generate_session_id();
    raw_->command({"ECHO", marker});
    std::vector<test::MonitoredCommand> commands = monitor_->until(marker);
    std::map<std::string, int> by_command;
    int keys_checked = 0;
    for (const auto& c : commands) {
      if (!c.args.empty() && c.args[0] == "ECHO") continue;  // our marker
      auto keys = test::key_arguments(c);
      ASSERT_TRUE(keys) << "a command the key check does not know: " << test::printable(c.args[0]);
      ++by_command[c.args[0]];
      for (const std::string& k : *keys) {
        ++keys_checked;
        EXPECT_TRUE(is_session_key(k)) << c.args[0] << " reached Redis with key " << test::printable(k);
        EXPECT_NE(k, "session:" + victim_) << c.args[0] << " touched the victim's session";
      }
    }

    test::Snapshot after = test::snapshot(*raw_);
    std::set<std::string> ours;  // keys a request may legitimately create or change
    for (const auto& [k, state] : before_) {
      if (is_session_key(k) && k != "session:" + victim_) ours.insert(k);
    }
    for (const auto& [k, state] : after) {
      if (is_session_key(k) && k != "session:" + victim_) ours.insert(k);
    }
    EXPECT_EQ(test::diff(before_, after, ours), "");

    std::map<int, int> statuses;
    for (const auto& [name, status] : answered_) ++statuses[status];
    std::cout << "[ figures ] " << answered_.size() << " hostile requests; statuses:";
    for (const auto& [s, n] : statuses) std::cout << " " << s << " x" << n;
    std::cout << "; " << commands.size() - 1 << " Redis commands, " << keys_checked
              << " key arguments, all session:<valid id>; by command:";
    for (const auto& [name, n] : by_command) std::cout << " " << name << " x" << n;
    std::cout << "\n";

    monitor_.reset();
    EXPECT_EQ(demo_->stop(), 0) << "no clean exit on SIGTERM: " << demo_->how_it_ended();
  }

  // A new session through the demo: its id from Set-Cookie.
  std::string new_session() {
    HttpResult r = raw_http(demo_->port(), http_request("GET", "/count"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.set_cookies.size(), 1u);
    return r.set_cookies.empty() ? std::string() : set_cookie_value(r.set_cookies[0]);
  }

  // Sends each request, records its status, checks the set, the cookies,
  // and that the server is still alive after each.
  void send_all(const std::vector<Hostile>& requests) {
    for (const Hostile& h : requests) {
      SCOPED_TRACE(h.name);
      const auto start = std::chrono::steady_clock::now();
      HttpResult r = raw_http(demo_->port(), h.request);
      const auto took = std::chrono::steady_clock::now() - start;
      EXPECT_LT(took, std::chrono::seconds(5)) << "slow answer (" << r.error << ")";
      answered_.emplace_back(h.name, r.status);
      EXPECT_NE(r.status, 0) << "no response (" << r.error << ")";
      EXPECT_LT(r.status, 500) << r.body;
      EXPECT_TRUE(h.expected.count(r.status)) << "status " << r.status << ": " << r.body;
      for (const std::string& c : r.set_cookies) {
        EXPECT_EQ(c.find_first_of(std::string("\r\n\0", 3)), std::string::npos);
        std::string id = set_cookie_value(c);
        EXPECT_TRUE(id.empty() || is_valid_session_id(id)) << c;
        EXPECT_NE(id, victim_) << "the victim's id was handed out";
        EXPECT_NE(c.find("; HttpOnly"), std::string::npos) << c;
      }
      // A Set-Cookie no cache may keep or hand to another visitor; Vary
      // only then (the demo's own caching headers are its business).
      const std::string head = test::lower(r.head) + "\r\n";
      const bool vary_cookie = head.find("\r\nvary: cookie\r\n") != std::string::npos;
      if (!r.set_cookies.empty()) {
        EXPECT_TRUE(vary_cookie) << r.head;
        EXPECT_NE(head.find("\r\ncache-control: no-store\r\n"), std::string::npos) << r.head;
      } else {
        EXPECT_EQ(head.find("\r\nvary:"), std::string::npos) << r.head;
      }
      if (h.check) h.check(r);
      ASSERT_TRUE(demo_->alive()) << "the demo died: " << demo_->how_it_ended();
    }
  }

  // The response started a new session: a fresh, valid id, never `not_this`.
  static std::function<void(const HttpResult&)> fresh_id_not(const std::string& not_this) {
    return [not_this](const HttpResult& r) {
      ASSERT_EQ(r.set_cookies.size(), 1u) << r.head;
      std::string id = set_cookie_value(r.set_cookies[0]);
      EXPECT_TRUE(is_valid_session_id(id));
      EXPECT_NE(id, not_this) << "a client-chosen id was adopted";
      EXPECT_EQ(r.body, "1") << "a new session counts from 1";
    };
  }

  std::unique_ptr<test::RedisServer> redis_;
  std::unique_ptr<redis::Connection> raw_;
  std::unique_ptr<test::DemoProcess> demo_;
  std::unique_ptr<test::RedisMonitor> monitor_;
  std::string victim_, mine_, other_id_;
  test::Snapshot before_;
  std::vector<std::pair<std::string, int>> answered_;
};

std::string cookie_header(const std::string& value) {
  return "Cookie: " + value + "\r\n";
}

// ---------------------------------------------------------------- cookies

TEST_F(HttpEdgeTest, HostileCookiesAreAnsweredAndNeverReachRedisUnchecked) {
  const std::string unknown = generate_session_id();
  std::string with_nul = victim_;
  with_nul[11] = '\0';
  std::string star_in_id = victim_;
  star_in_id[5] = '*';
  std::string many_different, many_mine;
  for (int i = 0; i < 250; ++i) {  // 7,000 bytes: under the manager's 8 KiB cookie limit
    many_different += "sid=" + (i == 125 ? victim_ : generate_session_id()) + "; ";
    many_mine += "sid=" + mine_ + "; ";
  }
  std::string many_headers;
  for (int i = 0; i < 100; ++i) many_headers += cookie_header("sid=" + generate_session_id());
  const std::string overlong_soft = "sid=" + victim_ + "; pad=" + std::string(9000, 'x');   // over 8 KiB: ignored
  const std::string overlong_hard = "sid=" + victim_ + "; pad=" + std::string(20000, 'x');  // over 16 KiB: 431

  auto get = [](const std::string& headers) { return http_request("GET", "/count", headers); };
  const std::set<int> ok{200};
  std::vector<Hostile> requests = {
      {"my own cookie", get(cookie_header("sid=" + mine_)), ok,
       [](const HttpResult& r) { EXPECT_TRUE(r.set_cookies.empty()) << "a known session needs no new cookie"; }},
      {"a well-formed id that exists nowhere", get(cookie_header("sid=" + unknown)), ok, fresh_id_not(unknown)},
      {"the id of another namespace's session", get(cookie_header("sid=" + other_id_)), ok, fresh_id_not(other_id_)},
      {"another namespace's key as id", get(cookie_header("sid=other:" + other_id_)), ok, fresh_id_not("")},
      {"a session key as id", get(cookie_header("sid=session:" + victim_)), ok, fresh_id_not("")},
      {"glob star", get(cookie_header("sid=*")), ok, fresh_id_not("")},
      {"22 question marks", get(cookie_header("sid=" + std::string(22, '?'))), ok, fresh_id_not("")},
      {"glob class", get(cookie_header("sid=[A-Za-z0-9_-]*")), ok, fresh_id_not("")},
      {"escaped glob", get(cookie_header("sid=\\*")), ok, fresh_id_not("")},
      {"a star inside a 22-character id", get(cookie_header("sid=" + star_in_id)), ok, fresh_id_not("")},
      {"a dot inside (a store id, not a session id)", get(cookie_header("sid=" + mine_.substr(0, 21) + ".")), ok,
       fresh_id_not("")},
      {"percent-encoded id",
       get(cookie_header("sid=%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41")), ok,
       fresh_id_not("")},
      {"the cookie name in capitals", get(cookie_header("SID=" + victim_)), ok, fresh_id_not(victim_)},
      {"a NUL inside the id", get(cookie_header("sid=" + with_nul)), {400}},
      {"DEL inside the id", get(cookie_header("sid=" + victim_.substr(0, 21) + "\x7f")), {400}},
      {"a bare CR inside the cookie", get("Cookie: sid=" + victim_ + "\rSet-Cookie: evil=1\r\n"), {400}},
      {"a bare LF inside the cookie",
       get("Cookie: sid=" + victim_ + "\nX-Evil: 1\r\n"),
       {200, 400},
       [](const HttpResult& r) { EXPECT_EQ(r.head.find("X-Evil"), std::string::npos); }},
      {"CRLF and a folded line (obs-fold)",
       get("Cookie: sid=" + unknown + "\r\n Set-Cookie: evil=1\r\n"),
       {200, 400},
       [](const HttpResult& r) { EXPECT_EQ(r.head.find("evil"), std::string::npos) << r.head; }},
      {"CRLF injection attempt via an encoded id", get(cookie_header("sid=" + unknown + "%0d%0aSet-Cookie:%20evil=1")),
       ok, [](const HttpResult& r) { EXPECT_EQ(r.head.find("evil"), std::string::npos) << r.head; }},
      {"250 duplicate cookies with different ids (the victim's among them)", get(cookie_header(many_different)), ok,
       fresh_id_not(victim_)},
      {"250 duplicates of my own id", get(cookie_header(many_mine)), ok,
       [](const HttpResult& r) { EXPECT_TRUE(r.set_cookies.empty()) << "the same id repeated is still mine"; }},
      {"100 Cookie headers", get(many_headers), ok, fresh_id_not("")},
      {"an overlong Cookie header (over 8 KiB: ignored)", get(cookie_header(overlong_soft)), ok, fresh_id_not(victim_)},
      {"a Cookie header over the 16 KiB header limit", get(cookie_header(overlong_hard)), {431}},
      {"cookie without a value", get(cookie_header("sid")), ok, fresh_id_not("")},
      {"cookie with an empty value", get(cookie_header("sid=")), ok, fresh_id_not("")},
      {"only semicolons and equals signs", get(cookie_header(";;;===;=;sid==;")), ok, fresh_id_not("")},
      {"8-bit bytes in the cookie", get(cookie_header("sid=\xc3\xa9\xff\xfe")), {200, 400}},
      {"the victim's id quoted with one quote", get(cookie_header("sid=\"" + victim_)), ok, fresh_id_not(victim_)},
      {"a logout with a hostile cookie", http_request("POST", "/logout", cookie_header("sid=*; sid=session:x")), ok},
  };
  send_all(requests);
}

// ---------------------------------------------------------------- bodies and targets

TEST_F(HttpEdgeTest, HugeInvalidAndDeepBodiesAreAnsweredAndWriteNothingBad) {
  const std::string cookie = cookie_header("sid=" + mine_);
  auto put = [&](const std::string& target, const std::string& body) {
    return http_request("PUT", target, cookie, body);
  };
  const std::string limit_string = "\"" + std::string(64 * 1024 - 2, 'v') + "\"";  // exactly 64 KiB of JSON
  std::string chunked =
      "PUT /session/big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + cookie + "Transfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 64; ++i) chunked += "4000\r\n" + std::string(0x4000, 'c') + "\r\n";  // 1 MiB
  chunked += "0\r\n\r\n";
  const std::set<int> bad{400};
  std::vector<Hostile> requests = {
      {"a valid value", put("/session/color", "\"blue\""), {204}},
      {"invalid JSON", put("/session/color", "{not json"), bad},
      {"JSON with trailing garbage", put("/session/color", "1 2"), bad},
      {"an empty body", put("/session/color", ""), bad},
      {"a raw NUL inside a JSON string", put("/session/color", std::string("\"a\0b\"", 5)), bad},
      {"invalid UTF-8 inside a JSON string", put("/session/color", "\"\xff\xfe\""), bad},
      {"an escaped NUL (valid JSON)", put("/session/nul", "\"\\u0000\""), {204}},
      {"exactly 64 KiB of JSON", put("/session/big", limit_string), {204}},
      {"64 KiB + 1", put("/session/big", limit_string + " "), {413}},
      {"10 MiB with Content-Length", put("/session/big", std::string(10 * 1024 * 1024, 'x')), {413}},
      {"1 MiB chunked", chunked, {413}},
      {"a Content-Length that overflows 64 bits",
       "PUT /session/big HTTP/1.1\r\nHost: x\r\n" + cookie + "Content-Length: 99999999999999999999999\r\n\r\n{}", bad},
      {"JSON nested 30,000 deep", put("/session/deep", std::string(30000, '[') + std::string(30000, ']')), bad},
      {"65,536 opening brackets", put("/session/deep", std::string(65536, '[')), bad},
      {"64 levels (the demo's limit)", put("/session/deep", std::string(64, '[') + std::string(64, ']')), {204}},
      {"65 levels (one over the demo's limit)", put("/session/deep", std::string(65, '[') + std::string(65, ']')), bad},
      {"65 levels of objects",
       put("/session/deep",
           [] {
             std::string s;
             for (int i = 0; i < 65; ++i) s += "{\"a\":";
             return s + "1" + std::string(65, '}');
           }()),
       bad},
      {"a field name starting with NUL", put("/session/%00c", "1"), bad},
      {"a field name with a bad escape", put("/session/%ZZ", "1"), bad},
      {"a 2,000-byte field name", put("/session/" + std::string(2000, 'f'), "1"), bad},
      {"glob characters in a field name (fields are not keys)", put("/session/*%3F[x]", "1"), {204}},
      {"a NUL inside a field name", put("/session/a%00b", "1"), {204}},
      {"a non-integer where /count counts", put("/session/count", "\"many\""), {204}},
      {"/count on it: 409, not a crash", http_request("GET", "/count", cookie), {409}},
      {"erase it", http_request("DELETE", "/session/count", cookie), {204}},
      {"login with a 10 MiB body", http_request("POST", "/login?user=ann", cookie, std::string(10 << 20, 'b')), {413}},
      {"login with an invalid JSON body (ignored)",
       http_request("POST", "/login?user=ann", cookie, "{{{"),
       {200},
       [](const HttpResult& r) { EXPECT_EQ(r.set_cookies.size(), 1u) << "login regenerates the id"; }},
      {"login with a NUL user", http_request("POST", "/login?user=%00", ""), bad},
      {"login with CRLF in the user", http_request("POST", "/login?user=a%0d%0aSet-Cookie:%20evil=1", ""), bad},
      {"login with invalid UTF-8", http_request("POST", "/login?user=%ff%fe", ""), bad},
      {"login with a 300-byte user", http_request("POST", "/login?user=" + std::string(300, 'u'), ""), bad},
      {"login without a user", http_request("POST", "/login", ""), bad},
      {"logout with a junk body", http_request("POST", "/logout", "", std::string(1000, '\0')), {200}},
      {"a request line of garbage", "GARBAGE\r\n\r\n", bad},
      {"an unknown method", "FROB /count HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", {400, 405}},
      {"a header without a colon", "GET /count HTTP/1.1\r\nHost: x\r\nConnection: close\r\nNoColonHere\r\n\r\n", bad},
      {"a path that climbs", http_request("GET", "/session/../../etc/passwd"), {405}},
      {"a target of 15 KiB", http_request("GET", "/" + std::string(15000, 'a')), {404}},
      {"HTTP/1.0", "GET /count HTTP/1.0\r\n\r\n", {200}},
  };
  send_all(requests);
}

}  // namespace
}  // namespace redis_session
