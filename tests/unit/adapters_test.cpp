// The framework adapters (Boost.Beast, cpp-httplib) over a MemoryStore: no
// server, no sockets, requests and responses built in memory. One typed
// suite runs against each adapter, so both are held to the same contract:
// every Cookie line is read, Set-Cookie goes out only when the manager says
// so and then always with Cache-Control: no-store and Vary: Cookie, and a
// store failure is a 503 with Retry-After.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "redis_session/error.hpp"
#include "redis_session/memory_store.hpp"
#include "redis_session/session_manager.hpp"
// The old paths: they forward to adapters/, and the old namespace names
// (redis_session::beast, redis_session::httplib_adapter) still work.
#include "redis_session/beast.hpp"
#if REDIS_SESSION_TEST_HTTPLIB
#include "redis_session/httplib.hpp"
#endif

namespace redis_session {
namespace {

namespace http = boost::beast::http;

struct BeastFramework {
  using Request = http::request<http::string_body>;
  using Response = http::response<http::string_body>;

  static Request request(const std::vector<std::string>& cookie_lines) {
    Request req(http::verb::get, "/", 11);
    for (const auto& line : cookie_lines) req.insert(http::field::cookie, line);
    return req;
  }
  static Session open(SessionManager& m, const Request& req) { return adapters::beast::open(m, req); }
  static CommitResult commit(SessionManager& m, Session& s, Response& res) {
    return adapters::beast::commit(m, s, res);
  }
  static void store_unavailable(Response& res, const Error& e) { adapters::beast::store_unavailable(res, e); }
  static void fail(Response& res, const Error& e) { adapters::beast::fail(res, e); }
  static int http_status(const Error& e) { return adapters::beast::http_status(e); }
  // Through the pre-adapters/ name, as code written before the move spells it.
  static Session open_by_old_name(SessionManager& m, const Request& req) { return redis_session::beast::open(m, req); }

  static std::vector<std::string> header(const Response& res, std::string_view name) {
    std::vector<std::string> lines;
    auto [first, last] = res.equal_range(boost::beast::string_view(name.data(), name.size()));
    for (auto it = first; it != last; ++it) lines.emplace_back(it->value().data(), it->value().size());
    return lines;
  }
  static void add_header(Response& res, const std::string& name, const std::string& value) { res.insert(name, value); }
  static int status(const Response& res) { return static_cast<int>(res.result_int()); }
  static std::string body(const Response& res) { return res.body(); }
};

#if REDIS_SESSION_TEST_HTTPLIB
struct HttplibFramework {
  using Request = ::httplib::Request;
  using Response = ::httplib::Response;

  static Request request(const std::vector<std::string>& cookie_lines) {
    Request req;
    req.method = "GET";
    req.path = "/";
    for (const auto& line : cookie_lines) req.headers.emplace("Cookie", line);
    return req;
  }
  static Session open(SessionManager& m, const Request& req) { return adapters::httplib::open(m, req); }
  static CommitResult commit(SessionManager& m, Session& s, Response& res) {
    return adapters::httplib::commit(m, s, res);
  }
  static void store_unavailable(Response& res, const Error& e) { adapters::httplib::store_unavailable(res, e); }
  static void fail(Response& res, const Error& e) { adapters::httplib::fail(res, e); }
  static int http_status(const Error& e) { return adapters::httplib::http_status(e); }
  static Session open_by_old_name(SessionManager& m, const Request& req) {
    return redis_session::httplib_adapter::open(m, req);
  }

  static std::vector<std::string> header(const Response& res, std::string_view name) {
    std::vector<std::string> lines;
    auto [first, last] = res.headers.equal_range(std::string(name));
    for (auto it = first; it != last; ++it) lines.push_back(it->second);
    return lines;
  }
  static void add_header(Response& res, const std::string& name, const std::string& value) {
    res.headers.emplace(name, value);
  }
  static int status(const Response& res) { return res.status; }
  static std::string body(const Response& res) { return res.body; }
};
#endif

template <class Framework>
class AdapterTest : public ::testing::Test {
 protected:
  using Request = typename Framework::Request;
  using Response = typename Framework::Response;
  using Lines = std::vector<std::string>;

  // A session that exists in the store, with one field; its cookie pair "sid=...".
  std::string existing_session() {
    Session s = manager_.open("");
    s.set("user", "ann");
    CommitResult r = manager_.commit(s);
    EXPECT_TRUE(r.set_cookie.has_value());
    return "sid=" + s.id();
  }

  // Opens with the given Cookie lines, lets `act` change the session and
  // the response, commits: the response.
  template <class Act>
  Response round_trip(const Lines& cookie_lines, Act act, CommitResult* result = nullptr) {
    const Request req = Framework::request(cookie_lines);
    Session s = Framework::open(manager_, req);
    Response res;
    act(s, res);
    CommitResult r = Framework::commit(manager_, s, res);
    if (result != nullptr) *result = r;
    return res;
  }

  // The handler sets a field in a session opened from `cookie_lines` and
  // gives the response the `preset` headers before the commit.
  Response with_headers(const Lines& cookie_lines, const std::vector<std::pair<std::string, std::string>>& preset) {
    return round_trip(cookie_lines, [&](Session& s, Response& r) {
      s.set("n", 1);
      for (const auto& [name, value] : preset) Framework::add_header(r, name, value);
    });
  }

  static Lines header(const Response& res, std::string_view name) { return Framework::header(res, name); }

  // The headers every response with a Set-Cookie carries, and only those.
  static void expect_cache_guard(const Response& res, const Lines& cache_control, const Lines& vary) {
    EXPECT_EQ(header(res, "Cache-Control"), cache_control);
    EXPECT_EQ(header(res, "Vary"), vary);
  }

  std::shared_ptr<MemoryStore> store_ = std::make_shared<MemoryStore>();
  SessionManager manager_{store_};
};

#if REDIS_SESSION_TEST_HTTPLIB
using Frameworks = ::testing::Types<BeastFramework, HttplibFramework>;
#else
using Frameworks = ::testing::Types<BeastFramework>;
#endif
TYPED_TEST_SUITE(AdapterTest, Frameworks);

auto nothing = [](Session&, auto&) {};

TYPED_TEST(AdapterTest, EveryCookieLineIsRead) {
  const std::string sid = this->existing_session();
  const auto req = TypeParam::request({"theme=dark", sid});
  Session s = TypeParam::open(this->manager_, req);
  EXPECT_FALSE(s.is_new());
  EXPECT_EQ(s.get_or("user", ""), "ann");
  EXPECT_EQ(TypeParam::open_by_old_name(this->manager_, req).get_or("user", ""), "ann");
}

TYPED_TEST(AdapterTest, TwoDifferentIdsOnTwoLinesAreTrustedNeither) {
  const std::string first = this->existing_session();
  const std::string second = this->existing_session();
  Session s = TypeParam::open(this->manager_, TypeParam::request({first, second}));
  EXPECT_TRUE(s.is_new());
  EXPECT_FALSE(s.contains("user"));
}

TYPED_TEST(AdapterTest, NewSessionGetsSetCookieNoStoreAndVary) {
  CommitResult result;
  auto res = this->round_trip(
      {}, [](Session& s, auto&) { s.set("n", 1); }, &result);
  ASSERT_TRUE(result.set_cookie.has_value());
  EXPECT_EQ(this->header(res, "Set-Cookie"), (std::vector<std::string>{*result.set_cookie}));
  this->expect_cache_guard(res, {"no-store"}, {"Cookie"});
}

TYPED_TEST(AdapterTest, NoSetCookieLeavesCachingHeadersAlone) {
  const std::string sid = this->existing_session();
  // Unchanged, and changed: neither sends a cookie, so nothing is added...
  auto res = this->round_trip({sid}, nothing);
  EXPECT_TRUE(this->header(res, "Set-Cookie").empty());
  this->expect_cache_guard(res, {}, {});
  res = this->round_trip({sid}, [](Session& s, auto&) { s.set("n", 2); });
  EXPECT_TRUE(this->header(res, "Set-Cookie").empty());
  this->expect_cache_guard(res, {}, {});
  // ...and what the handler chose stays as it was.
  res = this->with_headers({sid}, {{"Cache-Control", "public, max-age=60"}, {"Vary", "Accept-Encoding"}});
  this->expect_cache_guard(res, {"public, max-age=60"}, {"Accept-Encoding"});
}

TYPED_TEST(AdapterTest, SetCookieOverridesACacheableResponse) {
  auto res = this->with_headers(
      {}, {{"Cache-Control", "public, max-age=60"}, {"Vary", "Accept-Encoding"}, {"Vary", "Origin"}});
  EXPECT_EQ(this->header(res, "Set-Cookie").size(), 1u);
  this->expect_cache_guard(res, {"no-store"}, {"Accept-Encoding, Origin, Cookie"});
}

TYPED_TEST(AdapterTest, HeadersThatAlreadySayItAreKept) {
  auto res = this->with_headers({}, {{"Cache-Control", "private, No-Store"}, {"Vary", "accept-encoding, cookie"}});
  this->expect_cache_guard(res, {"private, No-Store"}, {"accept-encoding, cookie"});
  res = this->with_headers({}, {{"Vary", "*"}});
  this->expect_cache_guard(res, {"no-store"}, {"*"});
}

TYPED_TEST(AdapterTest, RotatedAndClearedCookiesGetTheGuardToo) {
  const std::string sid = this->existing_session();
  CommitResult result;
  auto res = this->round_trip(
      {sid}, [](Session& s, auto&) { s.regenerate(); }, &result);
  ASSERT_TRUE(result.set_cookie.has_value());
  EXPECT_NE(result.set_cookie->rfind(sid + ";", 0), 0u) << "a new id";
  this->expect_cache_guard(res, {"no-store"}, {"Cookie"});

  const std::string other = this->existing_session();
  res = this->round_trip(
      {other}, [](Session& s, auto&) { s.destroy(); }, &result);
  ASSERT_TRUE(result.set_cookie.has_value());
  EXPECT_NE(result.set_cookie->find("Max-Age=0"), std::string::npos);
  EXPECT_EQ(this->header(res, "Set-Cookie"), (std::vector<std::string>{*result.set_cookie}));
  this->expect_cache_guard(res, {"no-store"}, {"Cookie"});
}

TYPED_TEST(AdapterTest, StoreFailureIsA503WithRetryAfter) {
  typename TypeParam::Response res;
  TypeParam::store_unavailable(res, TimeoutError("redis 10.0.0.7:6379: command timed out"));
  EXPECT_EQ(TypeParam::status(res), 503);
  EXPECT_EQ(this->header(res, "Retry-After"), (std::vector<std::string>{"1"}));
  ASSERT_EQ(this->header(res, "Content-Type").size(), 1u);
  EXPECT_EQ(this->header(res, "Content-Type")[0].rfind("text/plain", 0), 0u);
  const std::string body = TypeParam::body(res);
  EXPECT_EQ(body, "session store unavailable: " + make_error_code(Errc::timeout).message() + "\n");
  EXPECT_EQ(body.find("10.0.0.7"), std::string::npos) << "the reason names the kind, never the host";
  EXPECT_TRUE(this->header(res, "Set-Cookie").empty());
}

// fail() tells the client's own mistakes from a failing store: only the
// latter is a 503 (which a balancer may count against the backend).
TYPED_TEST(AdapterTest, FailAnswersClientMistakesWith4xxAndStoreFailuresWith503) {
  struct Case {
    const Error& error;
    int status;
  };
  const InvalidArgumentError bad_field("invalid session field name: must be 1 to 1024 bytes");
  const SessionStateError destroyed("the session was destroyed; it cannot be changed");
  const ValueTooLargeError too_large("value of session field 'f' is 9 bytes, over max_value_bytes (8)");
  const InvalidOptionsError misconfigured("invalid RedisPoolStore options: url has a password redis://:pw@h");
  const TimeoutError timeout("redis 10.0.0.7:6379: command timed out");
  const PoolTimeoutError pool("timed out waiting for a pooled connection");
  const ServerError server("ERR something");
  const DecodeError decode("session rs:ab… field 'f' could not be decoded");
  for (const Case& c : {Case{bad_field, 400}, Case{destroyed, 409}, Case{too_large, 413}, Case{misconfigured, 500},
                        Case{timeout, 503}, Case{pool, 503}, Case{server, 503}, Case{decode, 503}}) {
    typename TypeParam::Response res;
    TypeParam::fail(res, c.error);
    EXPECT_EQ(TypeParam::status(res), c.status) << c.error.what();
    EXPECT_EQ(TypeParam::http_status(c.error), c.status) << c.error.what();
    const std::string body = TypeParam::body(res);
    if (c.status == 503) {
      EXPECT_EQ(this->header(res, "Retry-After"), (std::vector<std::string>{"1"}));
      EXPECT_EQ(body, "session store unavailable: " + c.error.code().message() + "\n");
    } else {
      EXPECT_TRUE(this->header(res, "Retry-After").empty()) << "the client's mistake: retrying will not help";
    }
    if (c.status == 400 || c.status == 409 || c.status == 413) {
      EXPECT_EQ(body, std::string(c.error.what()) + "\n") << "says what was wrong with the input";
    }
    EXPECT_EQ(body.find("pw@"), std::string::npos) << "configuration details never reach the client";
    EXPECT_EQ(body.find("10.0.0.7"), std::string::npos);
  }
}

}  // namespace
}  // namespace redis_session
