// Session over a CountingStore (no server): typed access, change tracking
// (what a commit writes), and the operations that go to the store at once:
// increment, regenerate, destroy, also when another request destroyed the
// session meanwhile.

#include "redis_session/session.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "redis_session/error.hpp"
#include "redis_session/session_id.hpp"
#include "redis_session/session_manager.hpp"
#include "support/session_fixture.hpp"

namespace redis_session::test {
namespace {

using nlohmann::json;

// Session is opened and committed through a manager; these tests need only
// the default one.
class SessionTest : public SessionFixture {
 protected:
  SessionManager m{store};
};

// A user type that plugs in through nlohmann's ADL hooks.
struct Account {
  std::string name;
  int age = 0;
  std::vector<std::string> roles;
  bool operator==(const Account& o) const { return name == o.name && age == o.age && roles == o.roles; }
};

void to_json(json& j, const Account& a) {
  j = json{{"name", a.name}, {"age", a.age}, {"roles", a.roles}};
}
void from_json(const json& j, Account& a) {
  j.at("name").get_to(a.name);
  j.at("age").get_to(a.age);
  j.at("roles").get_to(a.roles);
}

static_assert(!std::is_copy_constructible_v<Session>, "two copies committing would write twice");
static_assert(std::is_nothrow_move_constructible_v<Session>);

// ---------------------------------------------------------------- change tracking

TEST_F(SessionTest, SetThenEraseOnANewSessionWritesNothing) {
  Session s = m.open("");
  s.set("x", 1);
  s.erase("x");
  EXPECT_FALSE(s.dirty());
  EXPECT_FALSE(s.contains("x"));
  CommitResult r = m.commit(s);
  EXPECT_FALSE(r.wrote);
  EXPECT_FALSE(r.set_cookie);
  EXPECT_EQ(store->total_calls(), 0);
}

TEST_F(SessionTest, EraseOfALoadedFieldIsInTheEraseList) {
  std::string id = seed({{"a", 1}, {"b", 2}});
  Session s = m.open("sid=" + id);
  s.erase("a");
  EXPECT_FALSE(s.contains("a"));
  EXPECT_EQ(s.get<int>("a"), std::nullopt);
  EXPECT_TRUE(s.dirty());
  m.commit(s);
  ASSERT_EQ(store->saves().size(), 1U);
  EXPECT_TRUE(store->saves()[0].changes.set.empty());
  EXPECT_EQ(store->saves()[0].changes.erase, std::vector<std::string>{"a"});
  EXPECT_EQ(stored(id), (Fields{{"b", 2}}));
}

TEST_F(SessionTest, SetThenEraseOnAPersistedSessionSendsOnlyTheErase) {
  std::string id = seed({{"a", 1}});
  Session s = m.open("sid=" + id);
  s.set("a", 5);
  s.erase("a");
  s.set("x", 1);
  s.erase("x");
  m.commit(s);
  ASSERT_EQ(store->saves().size(), 1U);
  EXPECT_TRUE(store->saves()[0].changes.set.empty());
  EXPECT_EQ(store->saves()[0].changes.erase, (std::vector<std::string>{"a", "x"}));
  EXPECT_EQ(stored(id), Fields{});
}

TEST_F(SessionTest, EraseThenSetSendsOnlyTheSet) {
  std::string id = seed({{"a", 1}});
  Session s = m.open("sid=" + id);
  s.erase("a");
  s.set("a", 2);
  m.commit(s);
  ASSERT_EQ(store->saves().size(), 1U);
  EXPECT_EQ(store->saves()[0].changes.set, (Fields{{"a", 2}}));
  EXPECT_TRUE(store->saves()[0].changes.erase.empty());
  EXPECT_EQ(stored(id), (Fields{{"a", 2}}));
}

TEST_F(SessionTest, SettingTheSameValueOrErasingAnAbsentFieldWritesNothing) {
  std::string id = seed({{"a", 1}, {"b", "x"}});
  Session s = m.open("sid=" + id);
  s.set("a", 1);
  s.set("b", "x");
  s.erase("never-there");
  EXPECT_FALSE(s.dirty());
  CommitResult r = m.commit(s);
  EXPECT_FALSE(r.wrote);
  EXPECT_TRUE(store->saves().empty());
}

TEST_F(SessionTest, FieldNamesAreCheckedOnSetAndErase) {
  Session s = m.open("");
  EXPECT_THROW(s.set("", 1), InvalidOptionsError);
  EXPECT_THROW(s.set(std::string("\0meta", 5), 1), InvalidOptionsError);
  EXPECT_THROW(s.set(std::string(1025, 'f'), 1), InvalidOptionsError);
  EXPECT_THROW(s.erase(""), InvalidOptionsError);
  EXPECT_FALSE(s.dirty());
  s.set(std::string(1024, 'f'), 1);
  EXPECT_TRUE(s.dirty());
}

// ---------------------------------------------------------------- typed access

TEST_F(SessionTest, UserTypeRoundTripsThroughCommitAndReopen) {
  const Account ann{"ann", 41, {"admin", "editor"}};
  Session s = m.open("");
  s.set("account", ann);
  EXPECT_EQ(s.get<Account>("account"), ann);  // readable before commit too
  CommitResult r = m.commit(s);
  ASSERT_TRUE(r.set_cookie);

  Session again = m.open("sid=" + cookie_value(*r.set_cookie));
  EXPECT_FALSE(again.is_new());
  std::optional<Account> back = again.get<Account>("account");
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, ann);
  EXPECT_EQ(again.get_or("account", Account{}), ann);
  EXPECT_EQ(again.get_or("missing", Account{"nobody", 0, {}}).name, "nobody");
}

TEST_F(SessionTest, GetWithTheWrongTypeThrowsDecodeErrorNamingTheField) {
  std::string id = seed({{"name", "ann"}, {"n", 5}, {"list", json::array({1})}});
  Session s = m.open("sid=" + id);
  try {
    (void)s.get<int>("name");
    ADD_FAILURE() << "no DecodeError";
  } catch (const DecodeError& e) {
    EXPECT_EQ(e.errc(), Errc::decode_error);
    EXPECT_NE(std::string(e.what()).find("'name'"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("ann"), std::string::npos) << "message leaks the value: " << e.what();
  }
  EXPECT_THROW((void)s.get<Account>("n"), DecodeError);
  EXPECT_THROW((void)s.get<std::string>("list"), DecodeError);
  EXPECT_THROW((void)s.get<std::vector<std::string>>("list"), DecodeError);
  EXPECT_THROW((void)s.get_or<std::string>("n", "fallback"), DecodeError);  // present but wrong: not the fallback
  EXPECT_EQ(s.get<std::string>("absent"), std::nullopt);
}

// nlohmann alone would truncate 3.7 to 3, wrap -1 to 4294967295 and make
// 1e30 -> int undefined behaviour; a typed read reports them instead.
TEST_F(SessionTest, GetOfANumberTheTypeCannotHoldThrowsDecodeError) {
  std::string id = seed({{"frac", 3.7},
                         {"whole_float", 3.0},
                         {"neg", -1},
                         {"big", 5'000'000'000LL},
                         {"huge", 1e30},
                         {"vast", 1e300},
                         {"u64max", std::numeric_limits<std::uint64_t>::max()},
                         {"flag", true},
                         {"small", 200}});
  Session s = m.open("sid=" + id);
  EXPECT_THROW((void)s.get<int>("frac"), DecodeError);
  EXPECT_THROW((void)s.get<long long>("whole_float"), DecodeError);
  EXPECT_THROW((void)s.get<unsigned>("neg"), DecodeError);
  EXPECT_THROW((void)s.get<std::uint64_t>("neg"), DecodeError);
  EXPECT_THROW((void)s.get<int>("big"), DecodeError);
  EXPECT_THROW((void)s.get<int>("huge"), DecodeError);
  EXPECT_THROW((void)s.get<long long>("huge"), DecodeError);
  EXPECT_THROW((void)s.get<float>("vast"), DecodeError);
  EXPECT_EQ(s.get<float>("huge"), 1e30f);
  EXPECT_THROW((void)s.get<long long>("u64max"), DecodeError);
  EXPECT_THROW((void)s.get<int>("flag"), DecodeError);
  EXPECT_THROW((void)s.get<bool>("small"), DecodeError);
  EXPECT_THROW((void)s.get<std::int8_t>("small"), DecodeError);
  EXPECT_THROW((void)s.get_or("frac", 0), DecodeError);

  EXPECT_EQ(s.get<double>("frac"), 3.7);
  EXPECT_EQ(s.get<float>("frac"), 3.7f);
  EXPECT_EQ(s.get<double>("neg"), -1.0);  // an integer is a fine floating value
  EXPECT_EQ(s.get<int>("neg"), -1);
  EXPECT_EQ(s.get<long long>("big"), 5'000'000'000LL);
  EXPECT_EQ(s.get<std::uint64_t>("u64max"), std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(s.get<std::uint8_t>("small"), 200);
  EXPECT_EQ(s.get<bool>("flag"), true);
  EXPECT_EQ(s.get<json>("frac"), 3.7);
}

TEST_F(SessionTest, GetOrReturnsTheFallbackOnlyWhenAbsent) {
  std::string id = seed({{"n", 7}, {"zero", 0}, {"empty", ""}});
  Session s = m.open("sid=" + id);
  EXPECT_EQ(s.get_or("n", 1), 7);
  EXPECT_EQ(s.get_or("zero", 1), 0);
  EXPECT_EQ(s.get_or<std::string>("empty", "x"), "");
  EXPECT_EQ(s.get_or("missing", 1), 1);
  EXPECT_EQ(s.get_or<std::string>("missing", "x"), "x");
  ASSERT_NE(s.find("n"), nullptr);
  EXPECT_EQ(*s.find("n"), 7);
  EXPECT_EQ(s.find("missing"), nullptr);
}

TEST_F(SessionTest, GetOrWithAStringLiteralReadsAString) {
  std::string id = seed({{"user", "ann"}});
  Session s = m.open("sid=" + id);
  std::string user = s.get_or("user", "guest");
  std::string missing = s.get_or("nobody", "guest");
  EXPECT_EQ(user, "ann");
  EXPECT_EQ(missing, "guest");
}

// ---------------------------------------------------------------- increment

TEST_F(SessionTest, IncrementOnANewSessionCreatesItAndCommitSendsTheCookieWithoutASave) {
  Session s = m.open("");
  EXPECT_EQ(s.increment("hits"), 1);
  EXPECT_FALSE(s.is_new());
  EXPECT_EQ(s.increment("hits", 5), 6);
  EXPECT_EQ(s.get<long long>("hits"), 6);
  EXPECT_FALSE(s.dirty());
  EXPECT_EQ(store->calls(Op::increment), 2);
  EXPECT_EQ(stored(s.id()), (Fields{{"hits", 6}}));

  CommitResult r = m.commit(s);
  EXPECT_EQ(store->calls(Op::save), 0);
  EXPECT_FALSE(r.wrote);
  ASSERT_TRUE(r.set_cookie);
  EXPECT_EQ(cookie_value(*r.set_cookie), s.id());
  EXPECT_FALSE(m.commit(s).set_cookie);  // sent once
}

TEST_F(SessionTest, IncrementOnAnExistingSessionGoesStraightToTheStore) {
  std::string id = seed({{"n", 41}, {"user", "ann"}});
  Session s = m.open("sid=" + id);
  EXPECT_EQ(s.increment("n"), 42);
  EXPECT_EQ(s.increment("n", -2), 40);
  EXPECT_EQ(s.increment("fresh", 3), 3);
  EXPECT_EQ(s.get<int>("n"), 40);
  EXPECT_EQ(s.id(), id);
  EXPECT_EQ(stored(id), (Fields{{"n", 40}, {"user", "ann"}, {"fresh", 3}}));
  CommitResult r = m.commit(s);
  EXPECT_EQ(store->calls(Op::save), 0);
  EXPECT_FALSE(r.set_cookie);
}

TEST_F(SessionTest, IncrementIsExactAcrossConcurrentRequests) {
  std::string id = seed({{"n", 0}});
  Session a = m.open("sid=" + id);
  Session b = m.open("sid=" + id);
  EXPECT_EQ(a.increment("n"), 1);
  EXPECT_EQ(b.increment("n"), 2);
  a.set("other", true);  // a's commit must not write its stale copy of n
  m.commit(a);
  m.commit(b);
  EXPECT_EQ(stored(id), (Fields{{"n", 2}, {"other", true}}));
}

TEST_F(SessionTest, IncrementAfterAConcurrentDestroyContinuesAsAFreshSession) {
  std::string id = seed({{"n", 10}, {"user", "ann"}});
  Session s = m.open("sid=" + id);
  s.set("cart", 3);                         // uncommitted, made against the old session
  ASSERT_TRUE(store->inner().destroy(id));  // another request logs out

  EXPECT_EQ(s.increment("n", 3), 3);  // == by: nothing of the old value
  EXPECT_NE(s.id(), id);
  EXPECT_TRUE(is_valid_session_id(s.id()));
  EXPECT_FALSE(s.contains("user"));
  EXPECT_FALSE(s.contains("cart"));
  EXPECT_EQ(stored(id), std::nullopt);
  EXPECT_EQ(stored(s.id()), (Fields{{"n", 3}}));

  CommitResult r = m.commit(s);
  EXPECT_EQ(store->calls(Op::save), 0);
  ASSERT_TRUE(r.set_cookie);
  EXPECT_EQ(cookie_value(*r.set_cookie), s.id());
  EXPECT_EQ(stored(id), std::nullopt);
}

TEST_F(SessionTest, IncrementOfANonIntegerFieldThrowsAndChangesNothing) {
  std::string id = seed({{"name", "ann"}});
  Session s = m.open("sid=" + id);
  EXPECT_THROW(s.increment("name"), InvalidOptionsError);
  EXPECT_EQ(s.get<std::string>("name"), "ann");
  EXPECT_EQ(stored(id), (Fields{{"name", "ann"}}));
}

// A pending local change of the field must count: the increment applies to
// what this request sees, and commit must not undo it afterwards.
TEST_F(SessionTest, IncrementAfterAnUncommittedEraseStartsFromZero) {
  std::string id = seed({{"n", 5}});
  Session s = m.open("sid=" + id);
  s.erase("n");
  EXPECT_EQ(s.increment("n"), 1);
  EXPECT_EQ(s.get<long long>("n"), 1);
  m.commit(s);
  EXPECT_EQ(stored(id), (Fields{{"n", 1}}));
  EXPECT_EQ(m.open("sid=" + id).get<long long>("n"), 1);
}

TEST_F(SessionTest, IncrementAfterAnUncommittedSetAddsToTheNewValue) {
  std::string id = seed({{"n", 5}});
  Session s = m.open("sid=" + id);
  s.set("n", 100);
  EXPECT_EQ(s.increment("n"), 101);
  EXPECT_EQ(s.get<long long>("n"), 101);
  m.commit(s);
  EXPECT_EQ(stored(id), (Fields{{"n", 101}}));
}

TEST_F(SessionTest, IncrementAfterAnUncommittedSetOnANewSessionAddsToIt) {
  Session s = m.open("");
  s.set("n", 10);
  s.set("other", "x");
  EXPECT_EQ(s.increment("n", 2), 12);
  EXPECT_TRUE(s.is_new());  // still only local: commit creates it
  EXPECT_EQ(store->total_calls(), 0);
  CommitResult r = m.commit(s);
  ASSERT_EQ(store->saves().size(), 1U);
  EXPECT_EQ(store->saves()[0].changes.mode, SessionChanges::Mode::create);
  ASSERT_TRUE(r.set_cookie);
  EXPECT_EQ(cookie_value(*r.set_cookie), s.id());
  EXPECT_EQ(stored(s.id()), (Fields{{"n", 12}, {"other", "x"}}));
}

TEST_F(SessionTest, IncrementAfterAnUncommittedNonIntegerSetThrows) {
  std::string id = seed({{"n", 5}});
  Session s = m.open("sid=" + id);
  s.set("n", "five");
  EXPECT_THROW(s.increment("n"), InvalidOptionsError);
  EXPECT_EQ(s.get<std::string>("n"), "five");
  s.set("n", 1.5);
  EXPECT_THROW(s.increment("n"), InvalidOptionsError);
  s.set("n", std::numeric_limits<long long>::max());
  EXPECT_THROW(s.increment("n"), InvalidOptionsError);
  EXPECT_EQ(s.get<long long>("n"), std::numeric_limits<long long>::max());
  s.set("n", std::numeric_limits<std::uint64_t>::max());
  EXPECT_THROW(s.increment("n", -1), InvalidOptionsError);
  s.set("n", std::numeric_limits<long long>::min() + 1);
  EXPECT_EQ(s.increment("n", -1), std::numeric_limits<long long>::min());
  EXPECT_EQ(store->calls(Op::increment), 0);
  m.commit(s);
  EXPECT_EQ(stored(id), (Fields{{"n", std::numeric_limits<long long>::min()}}));
}

// ---------------------------------------------------------------- regenerate

TEST_F(SessionTest, RegenerateMovesAPersistedSessionToANewId) {
  std::string id = seed({{"user", "ann"}});
  Session s = m.open("sid=" + id);
  s.regenerate();
  EXPECT_EQ(store->calls(Op::regenerate), 1);
  EXPECT_NE(s.id(), id);
  EXPECT_TRUE(is_valid_session_id(s.id()));
  EXPECT_FALSE(s.is_new());
  EXPECT_EQ(s.get<std::string>("user"), "ann");
  EXPECT_EQ(stored(id), std::nullopt);  // the old id is dead at once
  EXPECT_EQ(stored(s.id()), (Fields{{"user", "ann"}}));

  CommitResult r = m.commit(s);
  EXPECT_EQ(store->calls(Op::save), 0);  // the data moved already
  ASSERT_TRUE(r.set_cookie);
  EXPECT_EQ(cookie_value(*r.set_cookie), s.id());
  EXPECT_TRUE(has_part(*r.set_cookie, "HttpOnly"));

  // The old cookie now gets a fresh session, never the old data.
  Session stale = m.open("sid=" + id);
  EXPECT_TRUE(stale.is_new());
  EXPECT_NE(stale.id(), id);
}

TEST_F(SessionTest, RegenerateKeepsPendingChangesForTheNewId) {
  std::string id = seed({{"user", "ann"}});
  Session s = m.open("sid=" + id);
  s.set("role", "admin");  // typical login: set, then regenerate
  s.regenerate();
  CommitResult r = m.commit(s);
  ASSERT_EQ(store->saves().size(), 1U);
  EXPECT_EQ(store->saves()[0].id, s.id());
  EXPECT_EQ(store->saves()[0].changes.mode, SessionChanges::Mode::update);
  EXPECT_EQ(store->saves()[0].changes.set, (Fields{{"role", "admin"}}));
  ASSERT_TRUE(r.set_cookie);
  EXPECT_EQ(cookie_value(*r.set_cookie), s.id());
  EXPECT_EQ(stored(s.id()), (Fields{{"role", "admin"}, {"user", "ann"}}));
  EXPECT_EQ(stored(id), std::nullopt);
}

TEST_F(SessionTest, RegenerateOnANewSessionOnlyDrawsANewId) {
  Session s = m.open("");
  std::string before = s.id();
  s.regenerate();
  EXPECT_NE(s.id(), before);
  EXPECT_TRUE(is_valid_session_id(s.id()));
  EXPECT_EQ(store->total_calls(), 0);
  EXPECT_FALSE(m.commit(s).set_cookie);  // still nothing to keep

  s.set("user", "ann");
  CommitResult r = m.commit(s);
  ASSERT_TRUE(r.set_cookie);
  EXPECT_EQ(cookie_value(*r.set_cookie), s.id());
  ASSERT_EQ(store->saves().size(), 1U);
  EXPECT_EQ(store->saves()[0].changes.mode, SessionChanges::Mode::create);
  EXPECT_EQ(stored(before), std::nullopt);
}

TEST_F(SessionTest, RegenerateAfterAConcurrentDestroyStartsFresh) {
  std::string id = seed({{"user", "ann"}});
  Session s = m.open("sid=" + id);
  store->inner().destroy(id);
  s.regenerate();
  EXPECT_NE(s.id(), id);
  EXPECT_TRUE(s.is_new());
  EXPECT_FALSE(s.contains("user"));
  EXPECT_EQ(stored(id), std::nullopt);
  EXPECT_EQ(stored(s.id()), std::nullopt);
  EXPECT_FALSE(m.commit(s).set_cookie);
  EXPECT_EQ(store->calls(Op::save), 0);
}

// ---------------------------------------------------------------- destroy

TEST_F(SessionTest, DestroyKillsTheSessionAndCommitClearsTheCookie) {
  std::string id = seed({{"user", "ann"}});
  Session s = m.open("sid=" + id);
  s.destroy();
  EXPECT_EQ(store->calls(Op::destroy), 1);
  EXPECT_TRUE(s.destroyed());
  EXPECT_EQ(stored(id), std::nullopt);
  EXPECT_TRUE(s.fields().empty());

  EXPECT_THROW(s.set("user", "bob"), InvalidOptionsError);
  EXPECT_THROW(s.erase("user"), InvalidOptionsError);
  EXPECT_THROW(s.increment("n"), InvalidOptionsError);
  EXPECT_THROW(s.regenerate(), InvalidOptionsError);
  s.destroy();  // again: harmless, no second store call
  EXPECT_EQ(store->calls(Op::destroy), 1);

  CommitResult r = m.commit(s);
  EXPECT_FALSE(r.wrote);
  EXPECT_EQ(store->calls(Op::save), 0);
  ASSERT_TRUE(r.set_cookie);
  EXPECT_EQ(*r.set_cookie, m.clearing_cookie());
  EXPECT_EQ(cookie_value(*r.set_cookie), "");
  EXPECT_TRUE(has_part(*r.set_cookie, "Max-Age=0"));
  EXPECT_TRUE(has_part(*r.set_cookie, "Path=/"));
  EXPECT_TRUE(has_part(*r.set_cookie, "HttpOnly"));
  EXPECT_TRUE(has_part(*r.set_cookie, "SameSite=Lax"));
  EXPECT_EQ(stored(id), std::nullopt);
}

TEST_F(SessionTest, DestroyDiscardsPendingChanges) {
  std::string id = seed({{"user", "ann"}});
  Session s = m.open("sid=" + id);
  s.set("cart", 1);
  s.destroy();
  EXPECT_FALSE(s.dirty());
  m.commit(s);
  EXPECT_EQ(store->calls(Op::save), 0);
  EXPECT_EQ(stored(id), std::nullopt);
}

TEST_F(SessionTest, DestroyOfANewSessionWithoutACookieSendsNothing) {
  Session s = m.open("");
  s.set("x", 1);
  s.destroy();
  CommitResult r = m.commit(s);
  EXPECT_FALSE(r.set_cookie);
  EXPECT_EQ(store->total_calls(), 0);
}

TEST_F(SessionTest, DestroyOfASessionFromAStaleCookieClearsTheCookie) {
  Session s = m.open("sid=" + generate_session_id());  // unknown id
  s.destroy();
  CommitResult r = m.commit(s);
  ASSERT_TRUE(r.set_cookie);
  EXPECT_TRUE(has_part(*r.set_cookie, "Max-Age=0"));
  EXPECT_EQ(store->calls(Op::destroy), 0);  // nothing stored to kill
}

TEST_F(SessionTest, DestroyAfterIncrementKillsTheCreatedSession) {
  Session s = m.open("");
  s.increment("n");
  std::string id = s.id();
  s.destroy();
  EXPECT_EQ(stored(id), std::nullopt);
  CommitResult r = m.commit(s);
  ASSERT_TRUE(r.set_cookie);
  EXPECT_TRUE(has_part(*r.set_cookie, "Max-Age=0"));
}

TEST_F(SessionTest, ConcurrentDestroyBeforeCommitIsNotResurrected) {
  std::string id = seed({{"user", "ann"}});
  Session s = m.open("sid=" + id);
  s.set("cart", json::array({"book"}));
  s.erase("user");
  ASSERT_TRUE(store->inner().destroy(id));  // logout in another tab

  CommitResult r = m.commit(s);
  EXPECT_FALSE(r.wrote);
  ASSERT_EQ(store->saves().size(), 1U);
  EXPECT_EQ(store->saves()[0].changes.mode, SessionChanges::Mode::update);  // never create
  EXPECT_EQ(stored(id), std::nullopt);
  EXPECT_EQ(store->inner().count(), 0U);
  ASSERT_TRUE(r.set_cookie);
  EXPECT_TRUE(has_part(*r.set_cookie, "Max-Age=0"));
  EXPECT_TRUE(s.destroyed());
  EXPECT_THROW(s.set("x", 1), InvalidOptionsError);
}

TEST_F(SessionTest, ConcurrentDestroyWithNothingChangedWritesNothing) {
  std::string id = seed({{"user", "ann"}});
  Session s = m.open("sid=" + id);
  store->inner().destroy(id);
  CommitResult r = m.commit(s);
  EXPECT_FALSE(r.wrote);
  EXPECT_FALSE(r.set_cookie);  // it cannot know without a store call, and makes none
  EXPECT_EQ(store->total_calls(), 1);
  EXPECT_EQ(stored(id), std::nullopt);
}

// ---------------------------------------------------------------- store errors

TEST_F(SessionTest, StoreErrorsFromImmediateOperationsPropagateTyped) {
  std::string id = seed({{"n", 1}});
  Session s = m.open("sid=" + id);

  store->fail_next<TimeoutError>(Op::increment, "t");
  EXPECT_THROW(s.increment("n"), TimeoutError);
  EXPECT_EQ(s.get<int>("n"), 1);

  store->fail_next<IoError>(Op::regenerate, "io");
  EXPECT_THROW(s.regenerate(), IoError);
  EXPECT_EQ(s.id(), id);  // unchanged: the old id still holds the data
  EXPECT_EQ(stored(id), (Fields{{"n", 1}}));

  store->fail_next<PoolClosedError>(Op::destroy, "closed");
  EXPECT_THROW(s.destroy(), PoolClosedError);
  EXPECT_FALSE(s.destroyed());
  EXPECT_EQ(stored(id), (Fields{{"n", 1}}));
  s.destroy();  // a retry works
  EXPECT_TRUE(s.destroyed());
  EXPECT_EQ(stored(id), std::nullopt);
}

}  // namespace
}  // namespace redis_session::test
