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
class SessionTest : public ByLoadMode {
 protected:
  SessionManager m = manager();
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

TEST_P(SessionTest, SetThenEraseOnANewSessionWritesNothing) {
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

TEST_P(SessionTest, EraseOfALoadedFieldIsInTheEraseList) {
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

TEST_P(SessionTest, SetThenEraseOnAPersistedSessionSendsOnlyTheErase) {
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

TEST_P(SessionTest, EraseThenSetSendsOnlyTheSet) {
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

TEST_P(SessionTest, SettingTheSameValueOrErasingAnAbsentFieldWritesNothing) {
  std::string id = seed({{"a", 1}, {"b", "x"}});
  Session s = m.open("sid=" + id);
  // Only a loaded session can tell "no change" (lazily, writes before the
  // first read are kept until the load shows them equal: see LazyWrites*).
  if (lazy()) (void)s.fields();
  s.set("a", 1);
  s.set("b", "x");
  s.erase("never-there");
  EXPECT_FALSE(s.dirty());
  CommitResult r = m.commit(s);
  EXPECT_FALSE(r.wrote);
  EXPECT_TRUE(store->saves().empty());
}

TEST_P(SessionTest, FieldNamesAreCheckedOnSetAndErase) {
  Session s = m.open("");
  EXPECT_THROW(s.set("", 1), InvalidArgumentError);
  EXPECT_THROW(s.set(std::string("\0meta", 5), 1), InvalidArgumentError);
  EXPECT_THROW(s.set(std::string(1025, 'f'), 1), InvalidArgumentError);
  EXPECT_THROW(s.erase(""), InvalidArgumentError);
  EXPECT_FALSE(s.dirty());
  s.set(std::string(1024, 'f'), 1);
  EXPECT_TRUE(s.dirty());
}

// ---------------------------------------------------------------- typed access

TEST_P(SessionTest, UserTypeRoundTripsThroughCommitAndReopen) {
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

TEST_P(SessionTest, GetWithTheWrongTypeThrowsDecodeErrorNamingTheField) {
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
TEST_P(SessionTest, GetOfANumberTheTypeCannotHoldThrowsDecodeError) {
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

TEST_P(SessionTest, GetOrReturnsTheFallbackOnlyWhenAbsent) {
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

TEST_P(SessionTest, GetOrWithAStringLiteralReadsAString) {
  std::string id = seed({{"user", "ann"}});
  Session s = m.open("sid=" + id);
  std::string user = s.get_or("user", "guest");
  std::string missing = s.get_or("nobody", "guest");
  EXPECT_EQ(user, "ann");
  EXPECT_EQ(missing, "guest");
}

// ---------------------------------------------------------------- increment

TEST_P(SessionTest, IncrementOnANewSessionCreatesItAndCommitSendsTheCookieWithoutASave) {
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

TEST_P(SessionTest, IncrementOnAnExistingSessionGoesStraightToTheStore) {
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

TEST_P(SessionTest, IncrementIsExactAcrossConcurrentRequests) {
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

TEST_P(SessionTest, IncrementAfterAConcurrentDestroyContinuesAsAFreshSession) {
  std::string id = seed({{"n", 10}, {"user", "ann"}});
  Session s = m.open("sid=" + id);
  s.set("cart", 3);                         // uncommitted, made against the old session
  ASSERT_TRUE(store->inner().destroy(id));  // another request logs out

  EXPECT_EQ(s.increment("n", 3), 3);  // == by: nothing of the old value
  EXPECT_NE(s.id(), id);
  EXPECT_TRUE(is_valid_session_id(s.id()));
  EXPECT_FALSE(s.contains("user"));
  EXPECT_EQ(stored(id), std::nullopt);
  EXPECT_EQ(stored(s.id()), (Fields{{"n", 3}}));
  // Eager: the request read the old session, so its pending write was made
  // against data that is gone and goes too. Lazy: it never read anything,
  // so the session was dead to it all along and its own write is kept, as
  // for a write after open() found the id dead.
  EXPECT_EQ(s.contains("cart"), lazy());

  CommitResult r = m.commit(s);
  EXPECT_EQ(store->calls(Op::save), lazy() ? 1 : 0);
  EXPECT_EQ(stored(s.id()), lazy() ? (Fields{{"n", 3}, {"cart", 3}}) : (Fields{{"n", 3}}));
  ASSERT_TRUE(r.set_cookie);
  EXPECT_EQ(cookie_value(*r.set_cookie), s.id());
  EXPECT_EQ(stored(id), std::nullopt);
}

TEST_P(SessionTest, IncrementOfANonIntegerFieldThrowsAndChangesNothing) {
  std::string id = seed({{"name", "ann"}});
  Session s = m.open("sid=" + id);
  EXPECT_THROW(s.increment("name"), SessionStateError);
  EXPECT_EQ(s.get<std::string>("name"), "ann");
  EXPECT_EQ(stored(id), (Fields{{"name", "ann"}}));
}

// A pending local change of the field must count: the increment applies to
// what this request sees, and commit must not undo it afterwards.
TEST_P(SessionTest, IncrementAfterAnUncommittedEraseStartsFromZero) {
  std::string id = seed({{"n", 5}});
  Session s = m.open("sid=" + id);
  s.erase("n");
  EXPECT_EQ(s.increment("n"), 1);
  EXPECT_EQ(s.get<long long>("n"), 1);
  m.commit(s);
  EXPECT_EQ(stored(id), (Fields{{"n", 1}}));
  EXPECT_EQ(m.open("sid=" + id).get<long long>("n"), 1);
}

TEST_P(SessionTest, IncrementAfterAnUncommittedSetAddsToTheNewValue) {
  std::string id = seed({{"n", 5}});
  Session s = m.open("sid=" + id);
  s.set("n", 100);
  EXPECT_EQ(s.increment("n"), 101);
  EXPECT_EQ(s.get<long long>("n"), 101);
  m.commit(s);
  EXPECT_EQ(stored(id), (Fields{{"n", 101}}));
}

TEST_P(SessionTest, IncrementAfterAnUncommittedSetOnANewSessionAddsToIt) {
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

TEST_P(SessionTest, IncrementAfterAnUncommittedNonIntegerSetThrows) {
  std::string id = seed({{"n", 5}});
  Session s = m.open("sid=" + id);
  s.set("n", "five");
  EXPECT_THROW(s.increment("n"), SessionStateError);
  EXPECT_EQ(s.get<std::string>("n"), "five");
  s.set("n", 1.5);
  EXPECT_THROW(s.increment("n"), SessionStateError);
  s.set("n", std::numeric_limits<long long>::max());
  EXPECT_THROW(s.increment("n"), SessionStateError);
  EXPECT_EQ(s.get<long long>("n"), std::numeric_limits<long long>::max());
  s.set("n", std::numeric_limits<std::uint64_t>::max());
  EXPECT_THROW(s.increment("n", -1), SessionStateError);
  s.set("n", std::numeric_limits<long long>::min() + 1);
  EXPECT_EQ(s.increment("n", -1), std::numeric_limits<long long>::min());
  EXPECT_EQ(store->calls(Op::increment), 0);
  m.commit(s);
  EXPECT_EQ(stored(id), (Fields{{"n", std::numeric_limits<long long>::min()}}));
}

// ---------------------------------------------------------------- regenerate

TEST_P(SessionTest, RegenerateMovesAPersistedSessionToANewId) {
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

TEST_P(SessionTest, RegenerateKeepsPendingChangesForTheNewId) {
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

TEST_P(SessionTest, RegenerateOnANewSessionOnlyDrawsANewId) {
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

TEST_P(SessionTest, RegenerateAfterAConcurrentDestroyStartsFresh) {
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

TEST_P(SessionTest, DestroyKillsTheSessionAndCommitClearsTheCookie) {
  std::string id = seed({{"user", "ann"}});
  Session s = m.open("sid=" + id);
  s.destroy();
  EXPECT_EQ(store->calls(Op::destroy), 1);
  EXPECT_TRUE(s.destroyed());
  EXPECT_EQ(stored(id), std::nullopt);
  EXPECT_TRUE(s.fields().empty());

  EXPECT_THROW(s.set("user", "bob"), SessionStateError);
  EXPECT_THROW(s.erase("user"), SessionStateError);
  EXPECT_THROW(s.increment("n"), SessionStateError);
  EXPECT_THROW(s.regenerate(), SessionStateError);
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

TEST_P(SessionTest, DestroyDiscardsPendingChanges) {
  std::string id = seed({{"user", "ann"}});
  Session s = m.open("sid=" + id);
  s.set("cart", 1);
  s.destroy();
  EXPECT_FALSE(s.dirty());
  m.commit(s);
  EXPECT_EQ(store->calls(Op::save), 0);
  EXPECT_EQ(stored(id), std::nullopt);
}

TEST_P(SessionTest, DestroyOfANewSessionWithoutACookieSendsNothing) {
  Session s = m.open("");
  s.set("x", 1);
  s.destroy();
  CommitResult r = m.commit(s);
  EXPECT_FALSE(r.set_cookie);
  EXPECT_EQ(store->total_calls(), 0);
}

TEST_P(SessionTest, DestroyOfASessionFromAStaleCookieClearsTheCookie) {
  Session s = m.open("sid=" + generate_session_id());  // unknown id
  s.destroy();
  CommitResult r = m.commit(s);
  ASSERT_TRUE(r.set_cookie);
  EXPECT_TRUE(has_part(*r.set_cookie, "Max-Age=0"));
  // Eager: the load found nothing to kill. Lazy: no load, one UNLINK that
  // finds nothing.
  EXPECT_EQ(store->calls(Op::destroy), lazy() ? 1 : 0);
  EXPECT_EQ(store->total_calls(), 1);
}

TEST_P(SessionTest, DestroyAfterIncrementKillsTheCreatedSession) {
  Session s = m.open("");
  s.increment("n");
  std::string id = s.id();
  s.destroy();
  EXPECT_EQ(stored(id), std::nullopt);
  CommitResult r = m.commit(s);
  ASSERT_TRUE(r.set_cookie);
  EXPECT_TRUE(has_part(*r.set_cookie, "Max-Age=0"));
}

// The request read the session alive (in either mode); a logout elsewhere
// before its commit wins. (Unread, lazily: LazyBlindWritesToADeadId*.)
TEST_P(SessionTest, ConcurrentDestroyBeforeCommitIsNotResurrected) {
  std::string id = seed({{"user", "ann"}});
  Session s = m.open("sid=" + id);
  ASSERT_EQ(s.get_or("user", ""), "ann");
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
  EXPECT_THROW(s.set("x", 1), SessionStateError);
}

TEST_P(SessionTest, ConcurrentDestroyWithNothingChangedWritesNothing) {
  std::string id = seed({{"user", "ann"}});
  Session s = m.open("sid=" + id);
  store->inner().destroy(id);
  CommitResult r = m.commit(s);
  EXPECT_FALSE(r.wrote);
  EXPECT_FALSE(r.set_cookie);  // it cannot know without a store call, and makes none
  EXPECT_EQ(store->total_calls(), lazy() ? 0 : 1);  // lazy: not even the load
  EXPECT_EQ(stored(id), std::nullopt);
}

// ---------------------------------------------------------------- store errors

TEST_P(SessionTest, StoreErrorsFromImmediateOperationsPropagateTyped) {
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

// ---------------------------------------------------------------- lazy loading
// What a request costs when the session loads on its first read (the
// default), counted in store calls.

class LazySessionTest : public SessionFixture {
 protected:
  SessionManager m = manager();  // LoadMode::lazy
};

TEST_F(LazySessionTest, OpenMakesNoStoreCallAndRepeatedReadsLoadOnce) {
  std::string id = seed({{"user", "ann"}, {"n", 3}});
  Session s = m.open("sid=" + id);
  EXPECT_EQ(store->total_calls(), 0);
  EXPECT_EQ(s.id(), id);
  EXPECT_EQ(s.get_or("user", ""), "ann");
  EXPECT_TRUE(s.contains("n"));
  EXPECT_EQ(s.fields().size(), 2U);
  EXPECT_FALSE(s.is_new());
  EXPECT_EQ(store->calls(Op::load), 1);
  EXPECT_EQ(store->total_calls(), 1);
}

TEST_F(LazySessionTest, AnIncrementOnlyRequestIsOneStoreCall) {
  std::string id = seed({{"count", 5}});
  Session s = m.open("sid=" + id);
  EXPECT_EQ(s.increment("count"), 6);
  CommitResult r = m.commit(s);
  EXPECT_FALSE(r.wrote);
  EXPECT_FALSE(r.set_cookie);
  EXPECT_EQ(store->calls(Op::increment), 1);
  EXPECT_EQ(store->total_calls(), 1);
  EXPECT_EQ(stored(id), (Fields{{"count", 6}}));
}

TEST_F(LazySessionTest, AWriteOnlyRequestIsOneSave) {
  std::string id = seed({{"user", "ann"}});
  Session s = m.open("sid=" + id);
  s.set("theme", "dark");
  s.erase("gone");  // unknown without a load: erased at the store, harmlessly
  CommitResult r = m.commit(s);
  EXPECT_TRUE(r.wrote);
  EXPECT_FALSE(r.set_cookie);
  EXPECT_EQ(store->calls(Op::save), 1);
  EXPECT_EQ(store->total_calls(), 1);
  EXPECT_EQ(stored(id), (Fields{{"user", "ann"}, {"theme", "dark"}}));
}

TEST_F(LazySessionTest, AReadAndWriteRequestIsTwoCalls) {
  std::string id = seed({{"n", 1}});
  Session s = m.open("sid=" + id);
  s.set("n", s.get_or("n", 0) + 1);
  m.commit(s);
  EXPECT_EQ(store->calls(Op::load), 1);
  EXPECT_EQ(store->calls(Op::save), 1);
  EXPECT_EQ(store->total_calls(), 2);
  EXPECT_EQ(stored(id), (Fields{{"n", 2}}));
}

TEST_F(LazySessionTest, WritesBeforeTheFirstReadGoOverTheLoadedFields) {
  std::string id = seed({{"a", 1}, {"b", 2}, {"c", 3}});
  Session s = m.open("sid=" + id);
  s.set("a", 1);    // the stored value: no longer pending once loaded
  s.set("b", 20);
  s.erase("c");
  s.erase("zz");    // absent: no longer pending once loaded
  EXPECT_EQ(s.fields(), (Fields{{"a", 1}, {"b", 20}}));
  CommitResult r = m.commit(s);
  EXPECT_TRUE(r.wrote);
  ASSERT_EQ(store->saves().size(), 1U);
  EXPECT_EQ(store->saves()[0].changes.set, (Fields{{"b", 20}}));
  EXPECT_EQ(store->saves()[0].changes.erase, std::vector<std::string>{"c"});
  EXPECT_EQ(stored(id), (Fields{{"a", 1}, {"b", 20}}));
}

// Dead before this request read it: as if open() had found it so. The
// request's own writes live on in a new session; nothing of the old does.
TEST_F(LazySessionTest, BlindWritesToADeadIdContinueAsANewSessionWithOnlyThem) {
  std::string id = seed({{"user", "ann"}, {"cart", 3}});
  Session s = m.open("sid=" + id);
  ASSERT_TRUE(store->inner().destroy(id));  // expired, or logged out elsewhere
  s.set("flash", "hello");
  s.erase("cart");
  CommitResult r = m.commit(s);
  EXPECT_TRUE(r.wrote);
  ASSERT_EQ(store->saves().size(), 2U);
  EXPECT_EQ(store->saves()[0].changes.mode, SessionChanges::Mode::update);  // found gone
  EXPECT_EQ(store->saves()[1].changes.mode, SessionChanges::Mode::create);
  EXPECT_TRUE(store->saves()[1].changes.erase.empty());
  ASSERT_TRUE(r.set_cookie);
  EXPECT_EQ(cookie_value(*r.set_cookie), s.id());
  EXPECT_NE(s.id(), id);
  EXPECT_EQ(stored(id), std::nullopt);
  EXPECT_EQ(stored(s.id()), (Fields{{"flash", "hello"}}));
  EXPECT_EQ(s.fields(), (Fields{{"flash", "hello"}}));
  EXPECT_EQ(store->calls(Op::load), 0) << "a new session needs no load";
}

TEST_F(LazySessionTest, ABlindEraseOfADeadIdCreatesNothing) {
  std::string id = seed({{"user", "ann"}});
  Session s = m.open("sid=" + id);
  ASSERT_TRUE(store->inner().destroy(id));
  s.erase("user");
  CommitResult r = m.commit(s);
  EXPECT_FALSE(r.wrote);
  EXPECT_EQ(store->inner().count(), 0U);
  EXPECT_EQ(stored(id), std::nullopt);
}

TEST_F(LazySessionTest, ADeadIdFoundByTheFirstReadKeepsThePendingWrites) {
  std::string id = seed({{"user", "ann"}});
  Session s = m.open("sid=" + id);
  s.set("flash", "hi");
  ASSERT_TRUE(store->inner().destroy(id));
  EXPECT_TRUE(s.is_new());
  EXPECT_EQ(s.fields(), (Fields{{"flash", "hi"}}));
  CommitResult r = m.commit(s);
  ASSERT_TRUE(r.set_cookie);
  EXPECT_NE(cookie_value(*r.set_cookie), id);
  EXPECT_EQ(stored(cookie_value(*r.set_cookie)), (Fields{{"flash", "hi"}}));
  EXPECT_EQ(stored(id), std::nullopt);
}

TEST_F(LazySessionTest, DestroyWithoutReadingIsOneCall) {
  std::string id = seed({{"user", "ann"}});
  Session s = m.open("sid=" + id);
  s.destroy();
  CommitResult r = m.commit(s);
  EXPECT_EQ(store->total_calls(), 1);
  EXPECT_EQ(store->calls(Op::destroy), 1);
  EXPECT_EQ(stored(id), std::nullopt);
  ASSERT_TRUE(r.set_cookie);
  EXPECT_TRUE(has_part(*r.set_cookie, "Max-Age=0"));
}

// ---------------------------------------------------------------- destroy, then go on

TEST_P(SessionTest, StartNewAfterDestroyGivesANewIdAndCookieAndKeepsTheOldDead) {
  std::string id = seed({{"user", "ann"}});
  Session s = m.open("sid=" + id);
  s.destroy();
  EXPECT_THROW(s.set("flash", "bye"), SessionStateError);
  s.start_new();
  EXPECT_FALSE(s.destroyed());
  EXPECT_TRUE(s.is_new());
  EXPECT_TRUE(s.fields().empty());
  s.set("flash", "signed out");
  CommitResult r = m.commit(s);
  EXPECT_TRUE(r.wrote);
  ASSERT_TRUE(r.set_cookie);
  EXPECT_FALSE(has_part(*r.set_cookie, "Max-Age=0"));
  const std::string fresh = cookie_value(*r.set_cookie);
  EXPECT_NE(fresh, id);
  EXPECT_EQ(fresh, s.id());
  EXPECT_EQ(stored(id), std::nullopt);
  EXPECT_EQ(stored(fresh), (Fields{{"flash", "signed out"}}));
  EXPECT_EQ(store->calls(Op::destroy), 1);
}

TEST_P(SessionTest, StartNewOfALiveSessionDestroysItFirst) {
  std::string id = seed({{"user", "ann"}});
  Session s = m.open("sid=" + id);
  s.start_new();
  EXPECT_EQ(stored(id), std::nullopt);
  s.set("flash", "x");
  CommitResult r = m.commit(s);
  ASSERT_TRUE(r.set_cookie);
  EXPECT_NE(cookie_value(*r.set_cookie), id);
}

TEST_P(SessionTest, StartNewWithNothingWrittenClearsTheOldCookie) {
  std::string id = seed({{"user", "ann"}});
  Session s = m.open("sid=" + id);
  s.destroy();
  s.start_new();
  CommitResult r = m.commit(s);
  EXPECT_FALSE(r.wrote);
  ASSERT_TRUE(r.set_cookie);
  EXPECT_TRUE(has_part(*r.set_cookie, "Max-Age=0"));
  EXPECT_EQ(stored(id), std::nullopt);
  EXPECT_EQ(store->inner().count(), 0U);
}

TEST_P(SessionTest, ClientMistakesAreInvalidArgumentsNotOptionsOrStoreFailures) {
  std::string id = seed({{"name", "ann"}});
  Session s = m.open("sid=" + id);
  try {
    s.set("", 1);
    ADD_FAILURE() << "no exception";
  } catch (const InvalidOptionsError&) {
    ADD_FAILURE() << "a bad field name is not configuration";
  } catch (const InvalidArgumentError& e) {
    EXPECT_EQ(e.code(), make_error_code(Errc::invalid_argument));
    EXPECT_EQ(dynamic_cast<const SessionStateError*>(&e), nullptr) << "the input alone is wrong, not the state";
  }
  EXPECT_THROW(s.increment("name"), SessionStateError);
  s.destroy();
  try {
    s.set("x", 1);
    ADD_FAILURE() << "no exception";
  } catch (const SessionStateError& e) {
    EXPECT_EQ(e.errc(), Errc::invalid_argument);
  }
}

INSTANTIATE_TEST_SUITE_P(LoadModes, SessionTest, testing::Values(LoadMode::lazy, LoadMode::eager), load_mode_name);

}  // namespace
}  // namespace redis_session::test
