// The cookie side of SessionManager (no server): finding our cookie in a
// Cookie header (spacing, quotes, duplicates, look-alike names, overlong
// headers) and the Set-Cookie values the cookie options produce.

#include "redis_session/session_manager.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "redis_session/session.hpp"
#include "support/session_fixture.hpp"

namespace redis_session::test {
namespace {

class CookieTest : public SessionFixture {
 protected:
  // Each header opens the stored session `id`, with one load, of that id.
  void expect_each_opens(SessionManager& m, const std::vector<std::string>& headers, const std::string& id) {
    for (const std::string& header : headers) {
      Session s = m.open(header);
      EXPECT_FALSE(s.is_new()) << header;
      EXPECT_EQ(s.id(), id) << header;
      EXPECT_EQ(store->loaded_ids(), std::vector<std::string>{id}) << header;
      store->reset();
    }
  }
};

// ---------------------------------------------------------------- cookie parsing

TEST(CookieValues, EdgeCases) {
  using detail::cookie_values;
  using V = std::vector<std::string_view>;
  EXPECT_EQ(cookie_values("", "sid"), V{});
  EXPECT_EQ(cookie_values("sid", "sid"), V{});  // no '='
  EXPECT_EQ(cookie_values("sid=", "sid"), V{""});
  EXPECT_EQ(cookie_values("sid=a", "sid"), V{"a"});
  EXPECT_EQ(cookie_values("sid=a;", "sid"), V{"a"});
  EXPECT_EQ(cookie_values(";", "sid"), V{});
  EXPECT_EQ(cookie_values(";;;", "sid"), V{});
  EXPECT_EQ(cookie_values("=a", "sid"), V{});
  EXPECT_EQ(cookie_values("sid=a=b", "sid"), V{"a=b"});  // only the first '=' splits
  EXPECT_EQ(cookie_values(" sid = a ", "sid"), V{"a"});
  EXPECT_EQ(cookie_values("\tsid\t=\ta\t", "sid"), V{"a"});
  EXPECT_EQ(cookie_values("sid=\"a\"", "sid"), V{"a"});
  EXPECT_EQ(cookie_values("sid=\"\"", "sid"), V{""});
  EXPECT_EQ(cookie_values("sid=\"", "sid"), V{"\""});  // a lone quote stays (and fails validation)
  EXPECT_EQ(cookie_values("sid=\"a", "sid"), V{"\"a"});
  EXPECT_EQ(cookie_values("sid=a b", "sid"), V{"a b"});  // inner space kept: validation rejects it
  EXPECT_EQ(cookie_values("a=1; sid=x; b=2; sid=y", "sid"), (V{"x", "y"}));
  EXPECT_EQ(cookie_values("sidx=1; xsid=2; SID=3; sid_=4", "sid"), V{});
  EXPECT_EQ(cookie_values("junk; sid=x", "sid"), V{"x"});                  // a pair without '=' is skipped
  EXPECT_EQ(cookie_values("sid=x\r\nEvil: 1", "sid"), V{"x\r\nEvil: 1"});  // passed to validation, not cut
  EXPECT_EQ(cookie_values(std::string_view("sid=a\0b", 7), "sid"), V{std::string_view("a\0b", 3)});
  EXPECT_EQ(cookie_values("a=1, sid=x", "sid"), V{});  // commas do not separate cookies
  EXPECT_EQ(cookie_values("app=1; sid=2", "app"), V{"1"});
}

TEST_F(CookieTest, OurCookieIsFoundAmongOthersWithOddSpacingAndQuotes) {
  std::string id = seed({{"user", "ann"}});
  SessionManager m = manager();
  const std::vector<std::string> headers = {
      "sid=" + id,
      "a=1; sid=" + id + "; b=2",
      "a=1;sid=" + id + ";b=2",
      "  sid=" + id + "  ",
      "\tsid=" + id + "\t;",
      "sid =" + id,
      "sid= " + id,
      "a=1;   sid = " + id + " ;  b",
      "sid=\"" + id + "\"",
      "x=\"q\"; sid=\"" + id + "\"; y=z",
      "broken; sid=" + id,
      ";;sid=" + id + ";;",
  };
  expect_each_opens(m, headers, id);
}

TEST_F(CookieTest, CookiesWhoseNameMerelyResemblesOursAreIgnored) {
  std::string id = seed({{"user", "ann"}});
  SessionManager m = manager();
  for (const std::string& header : {"sidx=" + id, "xsid=" + id, "SID=" + id, "Sid=" + id, "s id=" + id,
                                    "sidx=" + id + "; xsid=" + id, "__Host-sid=" + id, id, "=" + id}) {
    Session s = m.open(header);
    EXPECT_EQ(store->total_calls(), 0) << header;
    EXPECT_TRUE(s.is_new()) << header;
  }
}

TEST_F(CookieTest, DuplicateCookiesWithTheSameValidIdAreAccepted) {
  std::string id = seed({{"user", "ann"}});
  SessionManager m = manager();
  Session s = m.open("sid=" + id + "; sid=" + id);
  EXPECT_FALSE(s.is_new());
  EXPECT_EQ(s.id(), id);
  EXPECT_EQ(store->calls(Op::load), 1);
}

TEST_F(CookieTest, DuplicateCookiesWithDifferentValidIdsAreBothDistrusted) {
  std::string a = seed({{"user", "ann"}});
  std::string b = seed({{"user", "bob"}});
  SessionManager m = manager();
  for (const std::string& header :
       {"sid=" + a + "; sid=" + b, "sid=" + b + "; sid=" + a, "sid=" + a + "; sid=" + b + "; sid=" + a}) {
    Session s = m.open(header);
    EXPECT_EQ(store->total_calls(), 0) << header;
    EXPECT_TRUE(s.is_new());
    EXPECT_NE(s.id(), a);
    EXPECT_NE(s.id(), b);
    EXPECT_FALSE(s.contains("user"));
  }
}

TEST_F(CookieTest, AMalformedDuplicateDoesNotHideTheValidId) {
  std::string id = seed({{"user", "ann"}});
  SessionManager m = manager();
  expect_each_opens(m, {"sid=garbage; sid=" + id, "sid=" + id + "; sid=*", "sid=; sid=" + id}, id);
}

TEST_F(CookieTest, AnOverlongCookieHeaderIsIgnoredWithoutAStoreCall) {
  std::string id = seed({{"user", "ann"}});
  SessionManager m = manager();
  std::string header = "sid=" + id + "; pad=";
  std::size_t limit = m.options().max_cookie_header_bytes;
  header.append(limit - header.size(), 'x');
  ASSERT_EQ(header.size(), limit);
  {
    Session s = m.open(header);  // exactly at the limit: accepted
    EXPECT_FALSE(s.is_new());
    EXPECT_EQ(store->calls(Op::load), 1);
  }
  store->reset();
  header.push_back('x');
  Session s = m.open(header);
  EXPECT_EQ(store->total_calls(), 0);
  EXPECT_TRUE(s.is_new());
  EXPECT_NE(s.id(), id);
  EXPECT_EQ(stored(id), (Fields{{"user", "ann"}}));  // untouched

  SessionManagerOptions small;
  small.max_cookie_header_bytes = 64;
  SessionManager tight = manager(small);
  Session t = tight.open("a=" + std::string(40, 'x') + "; sid=" + id);
  EXPECT_EQ(store->total_calls(), 0);
  EXPECT_TRUE(t.is_new());
}

// ---------------------------------------------------------------- cookie options

TEST_F(CookieTest, CustomCookieOptionsAppearInTheCookie) {
  SessionManagerOptions o;
  o.cookie.name = "app_session";
  o.cookie.path = "/app";
  o.cookie.domain = "example.com";
  o.cookie.secure = true;
  o.cookie.same_site = SameSite::strict;
  SessionManager m = manager(o);
  Session s = m.open("");
  s.set("k", 1);
  CommitResult r = m.commit(s);
  ASSERT_TRUE(r.set_cookie);
  EXPECT_EQ(*r.set_cookie,
            "app_session=" + s.id() + "; Path=/app; Domain=example.com; Secure; HttpOnly; SameSite=Strict");

  // The clearing cookie carries the same Path and Domain, or a browser would
  // keep the original.
  std::string clear = m.clearing_cookie();
  EXPECT_EQ(cookie_value(clear, "app_session"), "");
  for (std::string_view part :
       {"Path=/app", "Domain=example.com", "Secure", "HttpOnly", "SameSite=Strict", "Max-Age=0"}) {
    EXPECT_TRUE(has_part(clear, part)) << part << " in " << clear;
  }

  // Read back under the custom name only.
  std::string id = s.id();
  EXPECT_EQ(m.open("app_session=" + id).id(), id);
  store->reset();
  EXPECT_TRUE(m.open("sid=" + id).is_new());
  EXPECT_EQ(store->total_calls(), 0);
}

TEST_F(CookieTest, SameSiteNoneWithSecure) {
  SessionManagerOptions o;
  o.cookie.same_site = SameSite::none;
  o.cookie.secure = true;
  SessionManager m = manager(o);
  std::string c = m.cookie_for("ID");
  EXPECT_TRUE(has_part(c, "SameSite=None"));
  EXPECT_TRUE(has_part(c, "Secure"));
}

TEST_F(CookieTest, HttpOnlyCanBeTurnedOff) {
  SessionManagerOptions o;
  o.cookie.http_only = false;
  SessionManager m = manager(o);
  EXPECT_EQ(m.cookie_for("ID"), "sid=ID; Path=/; SameSite=Lax");
}

TEST_F(CookieTest, MaxAgeAppearsAndTheCookieSlidesOnEveryCommit) {
  SessionManagerOptions o;
  o.cookie.max_age = std::chrono::hours(2);
  SessionManager m = manager(o);
  Session s = m.open("");
  s.set("k", 1);
  CommitResult first = m.commit(s);
  ASSERT_TRUE(first.set_cookie);
  EXPECT_TRUE(has_part(*first.set_cookie, "Max-Age=7200"));
  std::string id = s.id();

  // A request that never touches the session (lazy: no store call) slides
  // nothing, so its cookie is not re-sent: the two expiries stay together.
  store->reset();
  Session untouched = m.open("sid=" + id);
  EXPECT_FALSE(m.commit(untouched).set_cookie);
  EXPECT_EQ(store->total_calls(), 0);

  Session again = m.open("sid=" + id);
  EXPECT_EQ(again.get_or("k", 0), 1);  // the load slides the store's expiry
  CommitResult unchanged = m.commit(again);
  EXPECT_EQ(store->calls(Op::save), 0);
  EXPECT_FALSE(unchanged.wrote);
  ASSERT_TRUE(unchanged.set_cookie);  // re-sent so the browser's expiry slides too
  EXPECT_EQ(*unchanged.set_cookie, "sid=" + id + "; Path=/; HttpOnly; SameSite=Lax; Max-Age=7200");
  EXPECT_TRUE(m.commit(again).set_cookie);

  // A new session with nothing in it still gets no cookie.
  Session empty = m.open("");
  EXPECT_FALSE(m.commit(empty).set_cookie);

  // Clearing overrides Max-Age.
  again.destroy();
  CommitResult cleared = m.commit(again);
  ASSERT_TRUE(cleared.set_cookie);
  EXPECT_TRUE(has_part(*cleared.set_cookie, "Max-Age=0"));
  EXPECT_FALSE(has_part(*cleared.set_cookie, "Max-Age=7200"));
}

}  // namespace
}  // namespace redis_session::test
