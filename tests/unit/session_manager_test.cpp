// SessionManager over a CountingStore (no server): what open() loads and
// commit() writes, strict ids (a client never chooses its id), options, and
// typed store errors reaching the application unchanged, in both load modes
// (Load/SessionManagerTest.*/Lazy and /Eager; what only lazy loading does:
// LazySessionManagerTest). Session itself: session_test.cpp; cookies:
// cookie_test.cpp.

#include "redis_session/session_manager.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "redis_session/error.hpp"
#include "redis_session/memory_store.hpp"
#include "redis_session/session.hpp"
#include "redis_session/session_id.hpp"
#include "support/session_fixture.hpp"

namespace redis_session::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class SessionManagerTest : public LoadModeFixture {};

INSTANTIATE_TEST_SUITE_P(Load, SessionManagerTest, both_load_modes, load_mode_name);

class LazySessionManagerTest : public SessionFixture {};

// ---------------------------------------------------------------- new sessions

TEST_P(SessionManagerTest, NoCookieGivesANewSessionWithNoStoreTraffic) {
  SessionManager m = manager();
  Session s = m.open("");
  EXPECT_TRUE(s.is_new());
  EXPECT_FALSE(s.destroyed());
  EXPECT_FALSE(s.dirty());
  EXPECT_TRUE(s.fields().empty());
  EXPECT_FALSE(s.contains("user"));
  EXPECT_EQ(s.get<std::string>("user"), std::nullopt);
  EXPECT_TRUE(is_valid_session_id(s.id()));
  EXPECT_EQ(s.id(), s.id());  // generated once, then stable

  CommitResult r = m.commit(s);
  EXPECT_FALSE(r.set_cookie);
  EXPECT_FALSE(r.wrote);
  EXPECT_EQ(store->total_calls(), 0);
  EXPECT_EQ(store->inner().count(), 0U);
}

TEST_P(SessionManagerTest, OnlyUnrelatedCookiesGiveANewSessionWithNoStoreTraffic) {
  SessionManager m = manager();
  Session s = m.open("theme=dark; lang=en");
  EXPECT_TRUE(s.is_new());
  EXPECT_FALSE(m.commit(s).set_cookie);
  EXPECT_EQ(store->total_calls(), 0);
}

TEST_P(SessionManagerTest, NewSessionWithAValueIsSavedOnceInCreateModeAndGetsACookie) {
  SessionManager m = manager();
  Session s = m.open("");
  s.set("user", "ann");
  EXPECT_TRUE(s.dirty());
  EXPECT_EQ(store->total_calls(), 0);  // nothing reaches the store before commit

  CommitResult r = m.commit(s);
  EXPECT_TRUE(r.wrote);
  ASSERT_EQ(store->calls(Op::save), 1);
  EXPECT_EQ(store->total_calls(), 1);
  const CountingStore::SaveCall& call = store->saves().front();
  EXPECT_EQ(call.id, s.id());
  EXPECT_EQ(call.changes.mode, SessionChanges::Mode::create);
  EXPECT_EQ(call.changes.set, (Fields{{"user", "ann"}}));
  EXPECT_TRUE(call.changes.erase.empty());

  ASSERT_TRUE(r.set_cookie);
  EXPECT_EQ(*r.set_cookie, "sid=" + s.id() + "; Path=/; HttpOnly; SameSite=Lax");
  EXPECT_FALSE(has_part(*r.set_cookie, "Secure"));
  EXPECT_FALSE(has_part_starting(*r.set_cookie, "Max-Age"));
  EXPECT_FALSE(has_part_starting(*r.set_cookie, "Expires"));
  EXPECT_FALSE(has_part_starting(*r.set_cookie, "Domain"));

  EXPECT_FALSE(s.is_new());
  EXPECT_FALSE(s.dirty());
  EXPECT_EQ(stored(s.id()), (Fields{{"user", "ann"}}));
}

TEST_P(SessionManagerTest, CommittingAgainAfterASuccessfulCommitDoesNothing) {
  SessionManager m = manager();
  Session s = m.open("");
  s.set("a", 1);
  ASSERT_TRUE(m.commit(s).set_cookie);
  store->reset();
  CommitResult again = m.commit(s);
  EXPECT_FALSE(again.set_cookie);
  EXPECT_FALSE(again.wrote);
  EXPECT_EQ(store->total_calls(), 0);

  // A later change in the same request is an update, without a new cookie.
  s.set("b", 2);
  CommitResult third = m.commit(s);
  EXPECT_TRUE(third.wrote);
  EXPECT_FALSE(third.set_cookie);
  ASSERT_EQ(store->saves().size(), 1U);
  EXPECT_EQ(store->saves()[0].changes.mode, SessionChanges::Mode::update);
  EXPECT_EQ(store->saves()[0].changes.set, (Fields{{"b", 2}}));
  EXPECT_EQ(stored(s.id()), (Fields{{"a", 1}, {"b", 2}}));
}

// ---------------------------------------------------------------- existing sessions

// Eagerly in open(), lazily at the first read: exactly one load either way.
TEST_P(SessionManagerTest, AnExistingSessionIsLoadedExactlyOnce) {
  std::string id = seed({{"user", "ann"}, {"n", 3}});
  SessionManager m = manager();
  Session s = m.open("sid=" + id);
  EXPECT_EQ(store->calls(Op::load), loads_at_open());
  EXPECT_EQ(store->total_calls(), loads_at_open());
  EXPECT_FALSE(s.is_new());
  EXPECT_EQ(store->calls(Op::load), 1);
  EXPECT_EQ(store->total_calls(), 1);
  EXPECT_EQ(store->loaded_ids(), std::vector<std::string>{id});
  EXPECT_EQ(s.id(), id);
  EXPECT_EQ(s.get<std::string>("user"), "ann");
  EXPECT_EQ(s.get<int>("n"), 3);
  EXPECT_EQ(s.fields().size(), 2U);
  EXPECT_EQ(store->total_calls(), 1);
}

TEST_P(SessionManagerTest, UnchangedCommitWritesNothingAndSendsNoCookie) {
  std::string id = seed({{"user", "ann"}});
  SessionManager m = manager();
  Session s = m.open("sid=" + id);
  EXPECT_EQ(s.get_or<std::string>("user", ""), "ann");
  EXPECT_TRUE(s.contains("user"));
  CommitResult r = m.commit(s);
  EXPECT_FALSE(r.wrote);
  EXPECT_FALSE(r.set_cookie);
  EXPECT_EQ(store->calls(Op::save), 0);
  EXPECT_EQ(store->total_calls(), 1);  // the load only
}

TEST_P(SessionManagerTest, ChangedCommitIsOneSaveOfOnlyTheChanges) {
  std::string id = seed({{"a", 1}, {"b", 2}, {"c", 3}});
  SessionManager m = manager();
  Session s = m.open("sid=" + id);
  s.set("a", 10);
  s.set("d", json::array({1, 2}));
  s.erase("b");
  CommitResult r = m.commit(s);
  EXPECT_TRUE(r.wrote);
  EXPECT_FALSE(r.set_cookie);  // same id, browser-session cookie: nothing to resend
  ASSERT_EQ(store->calls(Op::save), 1);
  EXPECT_EQ(store->total_calls(), loads_at_open() + 1);  // lazily, the writes need no load
  const CountingStore::SaveCall& call = store->saves().front();
  EXPECT_EQ(call.id, id);
  EXPECT_EQ(call.changes.mode, SessionChanges::Mode::update);
  EXPECT_EQ(call.changes.set, (Fields{{"a", 10}, {"d", json::array({1, 2})}}));
  EXPECT_EQ(call.changes.erase, std::vector<std::string>{"b"});
  EXPECT_EQ(stored(id), (Fields{{"a", 10}, {"c", 3}, {"d", json::array({1, 2})}}));
}

TEST_P(SessionManagerTest, ConcurrentWritersToDifferentFieldsDoNotLoseEachOther) {
  // Only changed fields are written, so two requests on one session that
  // touch different fields both survive.
  std::string id = seed({{"a", 1}, {"b", 1}});
  SessionManager m = manager();
  Session first = m.open("sid=" + id);
  Session second = m.open("sid=" + id);
  first.set("a", 2);
  second.set("b", 2);
  m.commit(first);
  m.commit(second);
  EXPECT_EQ(stored(id), (Fields{{"a", 2}, {"b", 2}}));
}

// ---------------------------------------------------------------- strict ids

TEST_P(SessionManagerTest, AWellFormedUnknownIdIsNeverAdopted) {
  std::string chosen = generate_session_id();
  SessionManager m = manager();
  Session s = m.open("sid=" + chosen);
  EXPECT_EQ(store->calls(Op::load), loads_at_open());
  EXPECT_TRUE(s.is_new());
  EXPECT_EQ(store->calls(Op::load), 1);
  EXPECT_NE(s.id(), chosen);
  s.set("user", "ann");
  CommitResult r = m.commit(s);
  ASSERT_TRUE(r.set_cookie);
  EXPECT_NE(cookie_value(*r.set_cookie), chosen);
  EXPECT_EQ(cookie_value(*r.set_cookie), s.id());
  EXPECT_EQ(stored(chosen), std::nullopt);
}

TEST_P(SessionManagerTest, AnExpiredIdIsNeverAdopted) {
  store = std::make_shared<CountingStore>(MemoryStoreOptions{.expiry = {.idle_timeout = 20ms}});
  std::string id = seed({{"user", "ann"}});
  std::this_thread::sleep_for(60ms);
  SessionManager m = manager();
  Session s = m.open("sid=" + id);
  EXPECT_EQ(store->calls(Op::load), loads_at_open());
  EXPECT_TRUE(s.is_new());
  EXPECT_FALSE(s.contains("user"));
  EXPECT_NE(s.id(), id);
  EXPECT_EQ(store->calls(Op::load), 1);
}

TEST_P(SessionManagerTest, MalformedIdsNeverReachTheStore) {
  const std::string good = generate_session_id();
  std::string nul_inside = good;
  nul_inside[7] = '\0';
  std::string bad_last = good;
  bad_last.back() = 'B';
  const std::vector<std::string> bad = {
      "",
      "abc",
      good.substr(0, 21),
      good + "A",
      std::string(256, 'A'),
      std::string(22, 'a'),  // right alphabet and length, impossible last character
      bad_last,
      "*AAAAAAAAAAAAAAAAAAAAA",
      "AAAAAAAAAAAAAAAAAAAA?A",
      "AAAA[AAAAAAAAAAAAAAAAA",
      "AAAA]AAAAAAAAAAAAAAAAA",
      "*",
      "session:abc",
      "session:AAAAAAAAAAAAAA",
      "AAAAAAAAAA.AAAAAAAAAAA",  // a store would accept '.', the manager must not
      "AAAAAAAAAA+AAAAAAAAAAA",
      "AAAAAAAAAA/AAAAAAAAAAA",
      "AAAAAAAAAA%AAAAAAAAAAA",
      good.substr(0, 10) + "\r\n" + good.substr(12),
      good + "\r\nSet-Cookie: evil=1",
      nul_inside,
      "\"" + good,
  };
  SessionManager m = manager();
  for (const std::string& value : bad) {
    std::string header = "sid=" + value;
    Session s = m.open(header);
    EXPECT_EQ(store->total_calls(), 0) << "reached the store: " << testing::PrintToString(value);
    EXPECT_TRUE(s.is_new());
    EXPECT_NE(s.id(), value);
    EXPECT_TRUE(is_valid_session_id(s.id()));
    s.set("k", 1);
    CommitResult r = m.commit(s);
    ASSERT_TRUE(r.set_cookie);
    EXPECT_EQ(cookie_value(*r.set_cookie), s.id());
    EXPECT_FALSE(contains_crlf_or_nul(*r.set_cookie));
    store->reset();
  }
}

// ---------------------------------------------------------------- options

TEST_P(SessionManagerTest, InvalidOptionsAreRejected) {
  auto rejects = [&](SessionManagerOptions o) -> testing::AssertionResult {
    try {
      SessionManager m(store, std::move(o));
    } catch (const InvalidOptionsError& e) {
      if (e.errc() != Errc::invalid_options) return testing::AssertionFailure() << "wrong code: " << e.what();
      return testing::AssertionSuccess();
    }
    return testing::AssertionFailure() << "accepted";
  };
  // The defaults with one string of the cookie options replaced.
  auto with = [](std::string CookieOptions::*field, std::string value) {
    SessionManagerOptions o;
    o.cookie.*field = std::move(value);
    return o;
  };
  auto with_name = [&](std::string name) { return with(&CookieOptions::name, std::move(name)); };
  auto with_path = [&](std::string path) { return with(&CookieOptions::path, std::move(path)); };
  for (std::string name : {"", "s id", "s;id", "s=id", "s,id", "s\"id", "sid\r", "sid\n", "s\tid", "s\xc3\xa9"}) {
    EXPECT_TRUE(rejects(with_name(name))) << testing::PrintToString(name);
  }
  EXPECT_TRUE(rejects(with_name(std::string("s\0id", 4))));
  for (std::string path : {"", "app", "app/", "/a;b", "/a\r\nSet-Cookie: x=1", "/a\x7f"}) {
    EXPECT_TRUE(rejects(with_path(path))) << testing::PrintToString(path);
  }
  SessionManagerOptions domain;
  domain.cookie.domain = "example.com; Secure";
  EXPECT_TRUE(rejects(domain));
  domain.cookie.domain = "example.com\r\n";
  EXPECT_TRUE(rejects(domain));

  SessionManagerOptions none;
  none.cookie.same_site = SameSite::none;
  EXPECT_TRUE(rejects(none));
  none.cookie.secure = true;
  EXPECT_FALSE(rejects(none));

  for (std::chrono::seconds age : {std::chrono::seconds(0), std::chrono::seconds(-1)}) {
    SessionManagerOptions o;
    o.cookie.max_age = age;
    EXPECT_TRUE(rejects(o)) << age.count();
  }
  SessionManagerOptions tiny;
  tiny.max_cookie_header_bytes = 10;
  EXPECT_TRUE(rejects(tiny));

  EXPECT_THROW(SessionManager(nullptr), InvalidOptionsError);

  // The defaults and reasonable custom values are fine.
  EXPECT_FALSE(rejects(SessionManagerOptions{}));
  EXPECT_FALSE(rejects(with_mode()));
  EXPECT_FALSE(rejects(with_name("__Host-sid")));
  EXPECT_FALSE(rejects(with_path("/a/b-c_d.e")));
  EXPECT_NO_THROW(SessionManagerOptions{}.validate());
}

// ---------------------------------------------------------------- Max-Age sliding

// With a max_age the cookie is re-sent only when this request slid the
// store's expiry: a load, a save, an increment, a regenerate. Eagerly every
// open() with a live session loads; lazily an untouched session costs
// nothing and gets no cookie.
TEST_P(SessionManagerTest, AMaxAgeCookieIsResentOnlyWhenTheRequestSlidTheStoresExpiry) {
  SessionManagerOptions o;
  o.cookie.max_age = std::chrono::hours(2);
  SessionManager m = manager(o);
  std::string id = seed({{"user", "ann"}, {"n", 1}});
  const std::string slid = m.cookie_for(id);
  ASSERT_TRUE(has_part(slid, "Max-Age=7200"));

  Session untouched = m.open("sid=" + id);
  CommitResult r = m.commit(untouched);
  EXPECT_FALSE(r.wrote);
  if (lazy()) {
    EXPECT_FALSE(r.set_cookie);
    EXPECT_EQ(store->total_calls(), 0);
  } else {
    ASSERT_TRUE(r.set_cookie);
    EXPECT_EQ(*r.set_cookie, slid);
    EXPECT_EQ(store->total_calls(), 1);
  }

  Session read = m.open("sid=" + id);
  EXPECT_EQ(read.get<std::string>("user"), "ann");
  EXPECT_EQ(m.commit(read).set_cookie, slid);

  Session saved = m.open("sid=" + id);
  saved.set("cart", 1);
  EXPECT_EQ(m.commit(saved).set_cookie, slid);

  Session incremented = m.open("sid=" + id);
  EXPECT_EQ(incremented.increment("n"), 2);
  EXPECT_EQ(m.commit(incremented).set_cookie, slid);

  Session regenerated = m.open("sid=" + id);
  regenerated.regenerate();
  std::optional<std::string> moved = m.commit(regenerated).set_cookie;
  EXPECT_EQ(moved, m.cookie_for(regenerated.id()));
  EXPECT_EQ(stored(regenerated.id()), (Fields{{"cart", 1}, {"n", 2}, {"user", "ann"}}));
}

// ---------------------------------------------------------------- lazy loading

TEST_F(LazySessionManagerTest, OpenWithAWellFormedCookieMakesNoStoreCall) {
  SessionManager m = manager(lazy_options());
  std::string alive = seed({{"user", "ann"}});
  std::string dead = generate_session_id();
  for (const std::string& id : {alive, dead}) {
    Session s = m.open("sid=" + id);
    EXPECT_EQ(s.id(), id);  // the cookie's until a read or write finds it dead
    EXPECT_FALSE(s.dirty());
    CommitResult r = m.commit(s);
    EXPECT_FALSE(r.wrote);
    EXPECT_FALSE(r.set_cookie);
  }
  EXPECT_EQ(store->total_calls(), 0);
}

// The usual way an id dies: it expired. A write-only request to it starts a
// new session holding only its own writes; the expired data never returns.
TEST_F(LazySessionManagerTest, ABlindWriteToAnExpiredIdContinuesAsANewSessionWithOnlyItsWrites) {
  store = std::make_shared<CountingStore>(MemoryStoreOptions{.expiry = {.idle_timeout = 20ms}});
  std::string id = seed({{"user", "ann"}, {"role", "admin"}});
  std::this_thread::sleep_for(60ms);
  SessionManager m = manager(lazy_options());
  Session s = m.open("sid=" + id);
  s.set("cart", 2);
  s.erase("role");
  CommitResult r = m.commit(s);
  EXPECT_TRUE(r.wrote);
  ASSERT_EQ(store->saves().size(), 2U);
  EXPECT_EQ(store->saves()[0].id, id);
  EXPECT_EQ(store->saves()[0].changes.mode, SessionChanges::Mode::update);  // found dead: never revived
  EXPECT_EQ(store->saves()[1].id, s.id());
  EXPECT_EQ(store->saves()[1].changes.mode, SessionChanges::Mode::create);
  EXPECT_EQ(store->saves()[1].changes.set, (Fields{{"cart", 2}}));
  EXPECT_TRUE(store->saves()[1].changes.erase.empty());
  EXPECT_EQ(store->total_calls(), 2);
  EXPECT_NE(s.id(), id);
  ASSERT_TRUE(r.set_cookie);
  EXPECT_EQ(*r.set_cookie, m.cookie_for(s.id()));
  EXPECT_EQ(s.fields(), (Fields{{"cart", 2}}));
  EXPECT_EQ(stored(s.id()), (Fields{{"cart", 2}}));
  EXPECT_EQ(stored(id), std::nullopt);
  EXPECT_EQ(store->total_calls(), 2);  // the read above: nothing left to load
}

// ---------------------------------------------------------------- store errors

// Eagerly, open() meets a failing load; lazily, the first read does, and
// the next read tries again, keeping the request's pending writes.
TEST_P(SessionManagerTest, StoreErrorsFromTheLoadPropagateTyped) {
  std::string id = seed({{"user", "ann"}});
  SessionManager m = manager();
  if (lazy()) {
    store->fail_next<TimeoutError>(Op::load, "load timed out");
    Session s = m.open("sid=" + id);
    EXPECT_EQ(store->total_calls(), 0);
    s.set("cart", 1);
    try {
      (void)s.get<std::string>("user");
      ADD_FAILURE() << "no exception";
    } catch (const TimeoutError& e) {
      EXPECT_EQ(e.errc(), Errc::timeout);
      EXPECT_STREQ(e.what(), "load timed out");
    }
    store->fail_next<PoolTimeoutError>(Op::load, "pool");
    EXPECT_THROW((void)s.is_new(), PoolTimeoutError);
    store->fail_next<DecodeError>(Op::load, "bad bytes");
    EXPECT_THROW((void)s.fields(), DecodeError);
    EXPECT_EQ(s.get<std::string>("user"), "ann");  // and the next read works
    EXPECT_EQ(s.fields(), (Fields{{"cart", 1}, {"user", "ann"}}));
    EXPECT_EQ(s.id(), id);
    EXPECT_EQ(store->calls(Op::load), 4);
    m.commit(s);
    EXPECT_EQ(stored(id), (Fields{{"cart", 1}, {"user", "ann"}}));
    return;
  }
  store->fail_next<TimeoutError>(Op::load, "load timed out");
  try {
    (void)m.open("sid=" + id);
    ADD_FAILURE() << "no exception";
  } catch (const TimeoutError& e) {
    EXPECT_EQ(e.errc(), Errc::timeout);
    EXPECT_STREQ(e.what(), "load timed out");
  }
  store->fail_next<PoolTimeoutError>(Op::load, "pool");
  EXPECT_THROW((void)m.open("sid=" + id), PoolTimeoutError);
  store->fail_next<DecodeError>(Op::load, "bad bytes");
  EXPECT_THROW((void)m.open("sid=" + id), DecodeError);
  EXPECT_EQ(m.open("sid=" + id).id(), id);  // and it works afterwards
}

TEST_P(SessionManagerTest, AFailedCommitPropagatesTypedAndCanBeRetried) {
  std::string id = seed({{"a", 1}, {"b", 2}});
  SessionManager m = manager();
  Session s = m.open("sid=" + id);
  s.set("a", 10);
  s.erase("b");
  store->fail_next<IoError>(Op::save, "connection reset");
  EXPECT_THROW(m.commit(s), IoError);
  EXPECT_TRUE(s.dirty());
  EXPECT_EQ(stored(id), (Fields{{"a", 1}, {"b", 2}}));

  store->fail_next<ServerError>(Op::save, "ERR something");
  try {
    m.commit(s);
    ADD_FAILURE() << "no exception";
  } catch (const ServerError& e) {
    EXPECT_EQ(e.prefix(), "ERR");
  }

  CommitResult r = m.commit(s);
  EXPECT_TRUE(r.wrote);
  EXPECT_EQ(store->calls(Op::save), 3);
  ASSERT_EQ(store->saves().size(), 1U);  // only the one that reached the store
  EXPECT_EQ(store->saves()[0].changes.set, (Fields{{"a", 10}}));
  EXPECT_EQ(store->saves()[0].changes.erase, std::vector<std::string>{"b"});
  EXPECT_EQ(stored(id), (Fields{{"a", 10}}));
  EXPECT_FALSE(s.dirty());
}

TEST_P(SessionManagerTest, AFailedFirstCommitOfANewSessionRetriesUnderTheSameId) {
  SessionManager m = manager();
  Session s = m.open("");
  s.set("user", "ann");
  store->fail_next<TimeoutError>(Op::save, "timeout");
  EXPECT_THROW(m.commit(s), TimeoutError);
  EXPECT_TRUE(s.is_new());
  std::string id = s.id();
  CommitResult r = m.commit(s);
  ASSERT_TRUE(r.set_cookie);
  EXPECT_EQ(cookie_value(*r.set_cookie), id);
  EXPECT_EQ(store->saves().back().changes.mode, SessionChanges::Mode::create);
  EXPECT_EQ(stored(id), (Fields{{"user", "ann"}}));
}

TEST_P(SessionManagerTest, ACreateThatHitsATakenIdDrawsANewOne) {
  // A 128-bit collision cannot be produced honestly; plant the drawn id in
  // the store instead, as if another session held it.
  SessionManager m = manager();
  Session s = m.open("");
  std::string taken = s.id();
  SessionChanges other;
  other.mode = SessionChanges::Mode::create;
  other.set = {{"owner", "someone else"}};
  ASSERT_EQ(store->inner().save(taken, other), SaveResult::saved);

  s.set("user", "ann");
  CommitResult r = m.commit(s);
  EXPECT_TRUE(r.wrote);
  EXPECT_EQ(store->calls(Op::save), 2);
  EXPECT_NE(s.id(), taken);
  ASSERT_TRUE(r.set_cookie);
  EXPECT_EQ(cookie_value(*r.set_cookie), s.id());
  EXPECT_EQ(stored(taken), (Fields{{"owner", "someone else"}}));
  EXPECT_EQ(stored(s.id()), (Fields{{"user", "ann"}}));
}

}  // namespace
}  // namespace redis_session::test
