// Session over a CountingStore (no server): typed access, change tracking
// (what a commit writes), and the operations that go to the store at once:
// increment, regenerate, destroy, start_new, also when another request
// destroyed the session meanwhile. Every behaviour runs in both load modes
// (Load/SessionTest.*/Lazy and /Eager); what lazy loading alone promises,
// the store calls a request pays for, is LazySessionTest.

#include "redis_session/session.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <vector>

#include "redis_session/error.hpp"
#include "redis_session/session_id.hpp"
#include "redis_session/session_manager.hpp"
#include "support/session_fixture.hpp"

namespace redis_session::test {
namespace {

using nlohmann::json;

// Session is opened and committed through a manager; these tests need only
// the default one, in the load mode of the run.
class SessionTest : public LoadModeFixture {
 protected:
  SessionManager m = manager();
};

INSTANTIATE_TEST_SUITE_P(Load, SessionTest, both_load_modes, load_mode_name);

// What lazy loading alone promises: the exact store calls of a request.
class LazySessionTest : public SessionFixture {
 protected:
  SessionManager m = manager(lazy_options());
};

static_assert(std::is_base_of_v<InvalidArgumentError, SessionStateError>);
static_assert(!std::is_base_of_v<InvalidOptionsError, InvalidArgumentError>, "input errors are not configuration");

// Passes when `action` throws exactly E (not a narrower kind), with code
// invalid_argument, and nothing that is also an InvalidOptionsError: what a
// request's input causes is the client's error, never the configuration's.
template <class E, class Action>
testing::AssertionResult refused_as(Action&& action) {
  try {
    action();
  } catch (const Error& e) {
    if (typeid(e) != typeid(E)) return testing::AssertionFailure() << "another kind: " << typeid(e).name();
    if (e.errc() != Errc::invalid_argument) return testing::AssertionFailure() << "code " << e.code().message();
    if (dynamic_cast<const InvalidOptionsError*>(&e) != nullptr) {
      return testing::AssertionFailure() << "also an InvalidOptionsError";
    }
    return testing::AssertionSuccess();
  }
  return testing::AssertionFailure() << "nothing thrown";
}

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

TEST_P(SessionTest, EraseOfAStoredFieldIsInTheEraseList) {
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

TEST_P(SessionTest, SettingTheSameValueOrErasingAnAbsentFieldWritesNothingOnceTheFieldsAreKnown) {
  std::string id = seed({{"a", 1}, {"b", "x"}});
  Session s = m.open("sid=" + id);
  s.set("a", 1);
  s.set("b", "x");
  s.erase("never-there");
  if (lazy()) {
    // Unread, the session cannot tell a no-op from a change: the writes stay
    // pending and the one save repeats what the store holds (rather than a
    // load to find that out; LazySessionTest: a read first writes nothing).
    EXPECT_TRUE(s.dirty());
    CommitResult r = m.commit(s);
    EXPECT_TRUE(r.wrote);
    ASSERT_EQ(store->saves().size(), 1U);
    EXPECT_EQ(store->saves()[0].changes.set, (Fields{{"a", 1}, {"b", "x"}}));
    EXPECT_EQ(store->saves()[0].changes.erase, std::vector<std::string>{"never-there"});
  } else {
    EXPECT_FALSE(s.dirty());
    CommitResult r = m.commit(s);
    EXPECT_FALSE(r.wrote);
    EXPECT_TRUE(store->saves().empty());
  }
  EXPECT_EQ(store->total_calls(), 1);  // the save, or the load
  EXPECT_EQ(stored(id), (Fields{{"a", 1}, {"b", "x"}}));
}

TEST_P(SessionTest, BadFieldNamesAreInvalidArgumentsOnEveryChange) {
  std::string id = seed({{"n", 1}});
  Session s = m.open("sid=" + id);
  EXPECT_TRUE(refused_as<InvalidArgumentError>([&] { s.set("", 1); }));
  EXPECT_TRUE(refused_as<InvalidArgumentError>([&] { s.set(std::string("\0meta", 5), 1); }));
  EXPECT_TRUE(refused_as<InvalidArgumentError>([&] { s.set(std::string(1025, 'f'), 1); }));
  EXPECT_TRUE(refused_as<InvalidArgumentError>([&] { s.set_json("", json(1)); }));
  EXPECT_TRUE(refused_as<InvalidArgumentError>([&] { s.erase(""); }));
  EXPECT_TRUE(refused_as<InvalidArgumentError>([&] { s.increment(""); }));
  EXPECT_TRUE(refused_as<InvalidArgumentError>([&] { s.increment(std::string("\0n", 2)); }));
  EXPECT_FALSE(s.dirty());
  EXPECT_EQ(store->total_calls(), loads_at_open());  // refused before any I/O
  s.set(std::string(1024, 'f'), 1);
  EXPECT_TRUE(s.dirty());
  EXPECT_EQ(stored(id), (Fields{{"n", 1}}));
}

// The codec refuses invalid UTF-8: the request's own value, not the store.
TEST_P(SessionTest, AnUnencodableValueIsAnInvalidArgumentAndNothingIsWritten) {
  std::string id = seed({{"user", "ann"}});
  Session s = m.open("sid=" + id);
  s.set("name", std::string("\xff\xfe"));
  s.set("ok", 1);
  EXPECT_TRUE(refused_as<InvalidArgumentError>([&] { m.commit(s); }));
  try {
    m.commit(s);
    ADD_FAILURE() << "committed an unencodable value";
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("'name'"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(s.dirty());
  EXPECT_EQ(stored(id), (Fields{{"user", "ann"}}));
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
  EXPECT_EQ(store->calls(Op::increment), 3);
  EXPECT_EQ(store->total_calls(), loads_at_open() + 3);  // an increment needs no load
  EXPECT_EQ(s.get<int>("n"), 40);
  EXPECT_EQ(s.get<int>("fresh"), 3);
  EXPECT_EQ(store->calls(Op::load), 1);
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

// Destroyed before this request read it: eager loading read it alive, so
// its uncommitted set goes with it; lazily, the request never saw the old
// session and its own write carries over into the new one.
TEST_P(SessionTest, IncrementAfterAConcurrentDestroyContinuesAsANewSession) {
  std::string id = seed({{"n", 10}, {"user", "ann"}});
  Session s = m.open("sid=" + id);
  s.set("cart", 3);                         // uncommitted
  ASSERT_TRUE(store->inner().destroy(id));  // another request logs out

  EXPECT_EQ(s.increment("n", 3), 3);  // == by: nothing of the old value
  EXPECT_NE(s.id(), id);
  EXPECT_TRUE(is_valid_session_id(s.id()));
  EXPECT_EQ(store->calls(Op::increment), 2);  // the dead id's refusal, then the new session's
  EXPECT_FALSE(s.contains("user"));
  EXPECT_EQ(stored(id), std::nullopt);
  EXPECT_EQ(stored(s.id()), (Fields{{"n", 3}}));
  if (lazy()) {
    EXPECT_EQ(s.fields(), (Fields{{"cart", 3}, {"n", 3}}));
  } else {
    EXPECT_EQ(s.fields(), (Fields{{"n", 3}}));
  }
  EXPECT_EQ(store->calls(Op::load), loads_at_open());  // the reads above: a new session has nothing to load

  CommitResult r = m.commit(s);
  if (lazy()) {
    ASSERT_EQ(store->saves().size(), 1U);
    EXPECT_EQ(store->saves()[0].id, s.id());
    EXPECT_EQ(store->saves()[0].changes.set, (Fields{{"cart", 3}}));
    EXPECT_EQ(stored(s.id()), (Fields{{"cart", 3}, {"n", 3}}));
  } else {
    EXPECT_EQ(store->calls(Op::save), 0);
    EXPECT_EQ(stored(s.id()), (Fields{{"n", 3}}));
  }
  ASSERT_TRUE(r.set_cookie);
  EXPECT_EQ(cookie_value(*r.set_cookie), s.id());
  EXPECT_EQ(stored(id), std::nullopt);
  EXPECT_EQ(store->inner().count(), 1U);
}

// Read alive by this request, then destroyed by another: in either mode the
// old data and this request's changes are gone, and an increment starts an
// empty session.
TEST_P(SessionTest, IncrementAfterADestroyOfASessionThisRequestReadStartsEmpty) {
  std::string id = seed({{"n", 10}, {"user", "ann"}});
  Session s = m.open("sid=" + id);
  EXPECT_EQ(s.get<std::string>("user"), "ann");
  s.set("cart", 3);
  ASSERT_TRUE(store->inner().destroy(id));

  EXPECT_EQ(s.increment("n", 3), 3);
  EXPECT_NE(s.id(), id);
  EXPECT_EQ(s.fields(), (Fields{{"n", 3}}));
  CommitResult r = m.commit(s);
  EXPECT_EQ(store->calls(Op::save), 0);
  EXPECT_EQ(store->calls(Op::load), 1);
  ASSERT_TRUE(r.set_cookie);
  EXPECT_EQ(cookie_value(*r.set_cookie), s.id());
  EXPECT_EQ(stored(s.id()), (Fields{{"n", 3}}));
  EXPECT_EQ(stored(id), std::nullopt);
}

TEST_P(SessionTest, IncrementOfANonIntegerFieldThrowsAndChangesNothing) {
  std::string id = seed({{"name", "ann"}});
  Session s = m.open("sid=" + id);
  EXPECT_TRUE(refused_as<SessionStateError>([&] { s.increment("name"); }));
  EXPECT_EQ(store->calls(Op::increment), 1);  // the store's script refused it
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
  EXPECT_TRUE(refused_as<SessionStateError>([&] { s.increment("n"); }));
  EXPECT_EQ(s.get<std::string>("n"), "five");
  s.set("n", 1.5);
  EXPECT_TRUE(refused_as<SessionStateError>([&] { s.increment("n"); }));
  s.set("n", std::numeric_limits<long long>::max());
  EXPECT_TRUE(refused_as<SessionStateError>([&] { s.increment("n"); }));
  EXPECT_EQ(s.get<long long>("n"), std::numeric_limits<long long>::max());
  s.set("n", std::numeric_limits<std::uint64_t>::max());
  EXPECT_TRUE(refused_as<SessionStateError>([&] { s.increment("n", -1); }));
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

// Destroyed before this request read it: eagerly read, the request's
// pending set goes with the old session; lazily, it starts the new one.
TEST_P(SessionTest, RegenerateAfterAConcurrentDestroyContinuesAsANewSession) {
  std::string id = seed({{"user", "ann"}});
  Session s = m.open("sid=" + id);
  s.set("cart", 1);
  store->inner().destroy(id);
  s.regenerate();
  EXPECT_NE(s.id(), id);
  EXPECT_TRUE(s.is_new());
  EXPECT_FALSE(s.contains("user"));
  EXPECT_EQ(stored(id), std::nullopt);
  EXPECT_EQ(stored(s.id()), std::nullopt);
  EXPECT_EQ(store->calls(Op::regenerate), 1);
  EXPECT_EQ(store->calls(Op::load), loads_at_open());

  std::string fresh = s.id();
  CommitResult r = m.commit(s);
  if (lazy()) {
    ASSERT_EQ(store->saves().size(), 1U);
    EXPECT_EQ(store->saves()[0].id, fresh);
    EXPECT_EQ(store->saves()[0].changes.mode, SessionChanges::Mode::create);
    EXPECT_EQ(store->saves()[0].changes.set, (Fields{{"cart", 1}}));
    ASSERT_TRUE(r.set_cookie);
    EXPECT_EQ(cookie_value(*r.set_cookie), fresh);
    EXPECT_EQ(stored(fresh), (Fields{{"cart", 1}}));
  } else {
    EXPECT_FALSE(r.set_cookie);  // nothing left to keep
    EXPECT_EQ(store->calls(Op::save), 0);
    EXPECT_EQ(stored(fresh), std::nullopt);
  }
  EXPECT_EQ(stored(id), std::nullopt);
}

// ---------------------------------------------------------------- destroy

TEST_P(SessionTest, DestroyKillsTheSessionAndCommitClearsTheCookie) {
  std::string id = seed({{"user", "ann"}});
  Session s = m.open("sid=" + id);
  s.destroy();
  EXPECT_EQ(store->calls(Op::destroy), 1);
  EXPECT_EQ(store->total_calls(), loads_at_open() + 1);  // destroying needs no load
  EXPECT_TRUE(s.destroyed());
  EXPECT_EQ(stored(id), std::nullopt);
  // Reads see an empty session, without asking the store about an id that
  // this request itself killed.
  EXPECT_TRUE(s.fields().empty());
  EXPECT_FALSE(s.contains("user"));
  EXPECT_EQ(s.get<std::string>("user"), std::nullopt);
  (void)s.is_new();
  EXPECT_EQ(store->total_calls(), loads_at_open() + 1);

  EXPECT_TRUE(refused_as<SessionStateError>([&] { s.set("user", "bob"); }));
  EXPECT_TRUE(refused_as<SessionStateError>([&] { s.set_json("user", json("bob")); }));
  EXPECT_TRUE(refused_as<SessionStateError>([&] { s.erase("user"); }));
  EXPECT_TRUE(refused_as<SessionStateError>([&] { s.increment("n"); }));
  EXPECT_TRUE(refused_as<SessionStateError>([&] { s.regenerate(); }));
  EXPECT_TRUE(refused_as<SessionStateError>([&] { s.set("", 1); }));  // the state is checked first
  s.destroy();  // again: harmless, no second store call
  EXPECT_EQ(store->calls(Op::destroy), 1);
  EXPECT_EQ(store->total_calls(), loads_at_open() + 1);

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
  // One store call either way: eagerly the load found nothing to kill;
  // lazily the destroy goes out unchecked (a load first would cost the same).
  EXPECT_EQ(store->total_calls(), 1);
  EXPECT_EQ(store->calls(Op::destroy), lazy() ? 1 : 0);
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

// The old session never comes back. Eagerly read, the request's changes
// were made against it and go with it; lazily, the request never saw it, so
// its sets (not its erases) start a new session under a new id.
TEST_P(SessionTest, ConcurrentDestroyBeforeCommitIsNotResurrected) {
  std::string id = seed({{"user", "ann"}, {"role", "admin"}});
  Session s = m.open("sid=" + id);
  s.set("cart", json::array({"book"}));
  s.erase("user");
  ASSERT_TRUE(store->inner().destroy(id));  // logout in another tab

  CommitResult r = m.commit(s);
  ASSERT_FALSE(store->saves().empty());
  EXPECT_EQ(store->saves()[0].id, id);
  EXPECT_EQ(store->saves()[0].changes.mode, SessionChanges::Mode::update);  // never create under the old id
  EXPECT_EQ(stored(id), std::nullopt);
  ASSERT_TRUE(r.set_cookie);
  if (lazy()) {
    EXPECT_TRUE(r.wrote);
    ASSERT_EQ(store->saves().size(), 2U);
    EXPECT_NE(s.id(), id);
    EXPECT_TRUE(is_valid_session_id(s.id()));
    EXPECT_EQ(store->saves()[1].id, s.id());
    EXPECT_EQ(store->saves()[1].changes.mode, SessionChanges::Mode::create);
    EXPECT_EQ(store->saves()[1].changes.set, (Fields{{"cart", json::array({"book"})}}));
    EXPECT_TRUE(store->saves()[1].changes.erase.empty());
    EXPECT_EQ(cookie_value(*r.set_cookie), s.id());
    EXPECT_FALSE(s.destroyed());
    EXPECT_EQ(s.fields(), (Fields{{"cart", json::array({"book"})}}));
    EXPECT_EQ(stored(s.id()), (Fields{{"cart", json::array({"book"})}}));
    EXPECT_EQ(store->inner().count(), 1U);
    EXPECT_EQ(store->total_calls(), 2);
  } else {
    EXPECT_FALSE(r.wrote);
    ASSERT_EQ(store->saves().size(), 1U);
    EXPECT_EQ(store->inner().count(), 0U);
    EXPECT_TRUE(has_part(*r.set_cookie, "Max-Age=0"));
    EXPECT_TRUE(s.destroyed());
    EXPECT_TRUE(refused_as<SessionStateError>([&] { s.set("x", 1); }));
  }
}

// Read alive, then destroyed by another request before commit: in either
// mode the changes are dropped, the session is destroyed, the cookie cleared.
TEST_P(SessionTest, ConcurrentDestroyOfASessionThisRequestReadDropsItsChanges) {
  std::string id = seed({{"user", "ann"}});
  Session s = m.open("sid=" + id);
  EXPECT_EQ(s.get<std::string>("user"), "ann");
  s.set("cart", json::array({"book"}));
  s.erase("user");
  ASSERT_TRUE(store->inner().destroy(id));

  CommitResult r = m.commit(s);
  EXPECT_FALSE(r.wrote);
  ASSERT_EQ(store->saves().size(), 1U);
  EXPECT_EQ(store->saves()[0].changes.mode, SessionChanges::Mode::update);
  EXPECT_EQ(store->inner().count(), 0U);
  ASSERT_TRUE(r.set_cookie);
  EXPECT_EQ(*r.set_cookie, m.clearing_cookie());
  EXPECT_TRUE(s.destroyed());
  EXPECT_TRUE(s.fields().empty());
  EXPECT_TRUE(refused_as<SessionStateError>([&] { s.set("x", 1); }));
  EXPECT_EQ(store->total_calls(), 2);  // the load, the refused save
}

TEST_P(SessionTest, ConcurrentDestroyWithNothingChangedWritesNothing) {
  std::string id = seed({{"user", "ann"}});
  Session s = m.open("sid=" + id);
  store->inner().destroy(id);
  CommitResult r = m.commit(s);
  EXPECT_FALSE(r.wrote);
  EXPECT_FALSE(r.set_cookie);  // it cannot know without a store call, and makes none
  EXPECT_EQ(store->total_calls(), loads_at_open());
  EXPECT_EQ(stored(id), std::nullopt);
}

// ---------------------------------------------------------------- start_new

TEST_P(SessionTest, StartNewAfterDestroyContinuesUnderANewIdAndCookie) {
  std::string id = seed({{"user", "ann"}});
  Session s = m.open("sid=" + id);
  s.destroy();
  s.start_new();
  EXPECT_FALSE(s.destroyed());
  EXPECT_TRUE(s.is_new());
  EXPECT_TRUE(s.fields().empty());
  s.set("flash", "logged out");
  EXPECT_NE(s.id(), id);
  EXPECT_TRUE(is_valid_session_id(s.id()));

  CommitResult r = m.commit(s);
  EXPECT_TRUE(r.wrote);
  ASSERT_EQ(store->saves().size(), 1U);
  EXPECT_EQ(store->saves()[0].id, s.id());
  EXPECT_EQ(store->saves()[0].changes.mode, SessionChanges::Mode::create);
  EXPECT_EQ(store->saves()[0].changes.set, (Fields{{"flash", "logged out"}}));
  ASSERT_TRUE(r.set_cookie);
  EXPECT_EQ(*r.set_cookie, m.cookie_for(s.id()));
  EXPECT_EQ(stored(id), std::nullopt);
  EXPECT_EQ(stored(s.id()), (Fields{{"flash", "logged out"}}));
  EXPECT_EQ(store->calls(Op::destroy), 1);
  EXPECT_EQ(store->total_calls(), loads_at_open() + 2);  // the destroy, the save
  EXPECT_FALSE(m.commit(s).set_cookie);                  // sent once

  // The old cookie finds nothing.
  EXPECT_TRUE(m.open("sid=" + id).is_new());
}

TEST_P(SessionTest, StartNewOnALiveSessionDestroysItFirstAndKeepsNothing) {
  std::string id = seed({{"user", "ann"}});
  Session s = m.open("sid=" + id);
  s.set("cart", 1);
  s.start_new();
  EXPECT_EQ(store->calls(Op::destroy), 1);
  EXPECT_EQ(stored(id), std::nullopt);
  EXPECT_FALSE(s.dirty());
  EXPECT_TRUE(s.fields().empty());
  EXPECT_EQ(s.increment("n"), 1);  // a new session: the increment creates it
  EXPECT_NE(s.id(), id);

  CommitResult r = m.commit(s);
  EXPECT_EQ(store->calls(Op::save), 0);
  ASSERT_TRUE(r.set_cookie);
  EXPECT_EQ(cookie_value(*r.set_cookie), s.id());
  EXPECT_EQ(stored(s.id()), (Fields{{"n", 1}}));
  EXPECT_EQ(store->inner().count(), 1U);
}

TEST_P(SessionTest, StartNewWithNothingWrittenClearsTheOldCookie) {
  std::string id = seed({{"user", "ann"}});
  Session s = m.open("sid=" + id);
  s.destroy();
  s.start_new();
  CommitResult r = m.commit(s);
  EXPECT_FALSE(r.wrote);
  ASSERT_TRUE(r.set_cookie);
  EXPECT_EQ(*r.set_cookie, m.clearing_cookie());
  EXPECT_EQ(stored(id), std::nullopt);
  EXPECT_EQ(store->inner().count(), 0U);
  EXPECT_EQ(store->total_calls(), loads_at_open() + 1);
  EXPECT_FALSE(m.commit(s).set_cookie);  // cleared once
}

TEST_P(SessionTest, StartNewOnANewSessionWithoutACookieSendsNothingUntilWritten) {
  Session s = m.open("");
  s.set("x", 1);
  std::string first = s.id();
  s.start_new();
  EXPECT_FALSE(s.dirty());
  EXPECT_NE(s.id(), first);
  EXPECT_FALSE(m.commit(s).set_cookie);
  EXPECT_EQ(store->total_calls(), 0);

  s.set("y", 2);
  CommitResult r = m.commit(s);
  ASSERT_TRUE(r.set_cookie);
  EXPECT_EQ(cookie_value(*r.set_cookie), s.id());
  EXPECT_EQ(stored(s.id()), (Fields{{"y", 2}}));
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

// ---------------------------------------------------------------- lazy loading: what a request pays for

TEST_F(LazySessionTest, AnIncrementOnlyRequestIsOneStoreCall) {
  std::string id = seed({{"n", 41}, {"user", "ann"}});
  Session s = m.open("sid=" + id);
  EXPECT_EQ(s.increment("n"), 42);
  CommitResult r = m.commit(s);
  EXPECT_EQ(store->calls(Op::increment), 1);
  EXPECT_EQ(store->total_calls(), 1);  // no load, no save
  EXPECT_FALSE(r.wrote);
  EXPECT_FALSE(r.set_cookie);  // the same id, a browser-session cookie
  EXPECT_EQ(stored(id), (Fields{{"n", 42}, {"user", "ann"}}));
}

TEST_F(LazySessionTest, ASetOnlyRequestIsOneSave) {
  std::string id = seed({{"user", "ann"}});
  Session s = m.open("sid=" + id);
  s.set("cart", 2);
  CommitResult r = m.commit(s);
  EXPECT_TRUE(r.wrote);
  EXPECT_EQ(store->total_calls(), 1);
  ASSERT_EQ(store->saves().size(), 1U);
  EXPECT_EQ(store->saves()[0].id, id);
  EXPECT_EQ(store->saves()[0].changes.mode, SessionChanges::Mode::update);
  EXPECT_EQ(store->saves()[0].changes.set, (Fields{{"cart", 2}}));
  EXPECT_FALSE(r.set_cookie);
  EXPECT_EQ(stored(id), (Fields{{"cart", 2}, {"user", "ann"}}));
}

TEST_F(LazySessionTest, AReadAndAWriteAreAtMostTwoStoreCalls) {
  std::string id = seed({{"user", "ann"}, {"n", 1}});
  Session s = m.open("sid=" + id);
  EXPECT_EQ(s.get<std::string>("user"), "ann");
  s.set("user", "bob");
  m.commit(s);
  EXPECT_EQ(store->calls(Op::load), 1);
  EXPECT_EQ(store->calls(Op::save), 1);
  EXPECT_EQ(store->total_calls(), 2);

  store->reset();
  Session t = m.open("sid=" + id);
  EXPECT_EQ(t.get<std::string>("user"), "bob");
  EXPECT_EQ(t.increment("n"), 2);
  m.commit(t);
  EXPECT_EQ(store->calls(Op::load), 1);
  EXPECT_EQ(store->calls(Op::increment), 1);
  EXPECT_EQ(store->total_calls(), 2);
  EXPECT_EQ(stored(id), (Fields{{"user", "bob"}, {"n", 2}}));
}

TEST_F(LazySessionTest, EveryKindOfReadSharesOneLoad) {
  std::string id = seed({{"user", "ann"}, {"n", 3}});
  Session s = m.open("sid=" + id);
  EXPECT_EQ(store->total_calls(), 0);
  EXPECT_EQ(s.get<int>("n"), 3);
  EXPECT_EQ(s.get_or("user", "guest"), "ann");
  EXPECT_TRUE(s.contains("user"));
  ASSERT_NE(s.find("n"), nullptr);
  EXPECT_EQ(s.fields().size(), 2U);
  EXPECT_FALSE(s.is_new());
  EXPECT_EQ(s.get<int>("n"), 3);
  EXPECT_EQ(store->loaded_ids(), std::vector<std::string>{id});
  EXPECT_EQ(store->total_calls(), 1);
}

TEST_F(LazySessionTest, IsNewIsARead) {
  std::string id = seed({{"user", "ann"}});
  Session alive = m.open("sid=" + id);
  EXPECT_FALSE(alive.is_new());
  EXPECT_EQ(store->calls(Op::load), 1);
  EXPECT_EQ(alive.id(), id);

  store->reset();
  std::string dead = generate_session_id();
  Session s = m.open("sid=" + dead);
  EXPECT_EQ(s.id(), dead);  // the cookie's, until the store says otherwise
  EXPECT_TRUE(s.is_new());
  EXPECT_EQ(store->loaded_ids(), std::vector<std::string>{dead});
  EXPECT_NE(s.id(), dead);  // never adopted
  EXPECT_TRUE(is_valid_session_id(s.id()));
  EXPECT_TRUE(s.is_new());
  EXPECT_EQ(store->total_calls(), 1);  // known now: no second load
}

TEST_F(LazySessionTest, PendingWritesGoOverTheLoadedFields) {
  std::string id = seed({{"a", 1}, {"b", 2}, {"c", 3}});
  Session s = m.open("sid=" + id);
  s.set("a", 10);
  s.erase("b");
  s.set("d", 4);
  EXPECT_EQ(store->total_calls(), 0);
  EXPECT_EQ(s.fields(), (Fields{{"a", 10}, {"c", 3}, {"d", 4}}));
  EXPECT_EQ(s.get<int>("a"), 10);
  EXPECT_FALSE(s.contains("b"));
  EXPECT_TRUE(s.dirty());

  CommitResult r = m.commit(s);
  EXPECT_TRUE(r.wrote);
  ASSERT_EQ(store->saves().size(), 1U);
  EXPECT_EQ(store->saves()[0].changes.set, (Fields{{"a", 10}, {"d", 4}}));
  EXPECT_EQ(store->saves()[0].changes.erase, std::vector<std::string>{"b"});
  EXPECT_EQ(stored(id), (Fields{{"a", 10}, {"c", 3}, {"d", 4}}));
  EXPECT_EQ(store->total_calls(), 2);
}

// A blind write that a later read shows to change nothing is no longer
// pending: set to the stored value, erase of a field the store lacks.
TEST_F(LazySessionTest, WritesThatTheLoadShowsChangeNothingAreDropped) {
  std::string id = seed({{"a", 1}, {"b", "x"}});
  Session s = m.open("sid=" + id);
  s.set("a", 1);
  s.erase("never-there");
  s.set("b", "y");
  EXPECT_TRUE(s.dirty());
  EXPECT_TRUE(s.contains("a"));  // loads
  CommitResult r = m.commit(s);
  ASSERT_EQ(store->saves().size(), 1U);
  EXPECT_EQ(store->saves()[0].changes.set, (Fields{{"b", "y"}}));  // only the real change
  EXPECT_TRUE(store->saves()[0].changes.erase.empty());
  EXPECT_TRUE(r.wrote);

  store->reset();
  Session same = m.open("sid=" + id);
  same.set("a", 1);
  same.set("b", "y");
  same.erase("never-there");
  EXPECT_EQ(same.get<std::string>("b"), "y");
  EXPECT_FALSE(same.dirty());
  EXPECT_FALSE(m.commit(same).wrote);
  EXPECT_EQ(store->total_calls(), 1);  // the load only
  EXPECT_EQ(stored(id), (Fields{{"a", 1}, {"b", "y"}}));
}

// An erase-only request to a dead id: the new session it continues as holds
// nothing, so nothing is created and no cookie is sent.
TEST_F(LazySessionTest, ABlindEraseToADeadIdWritesNothing) {
  std::string id = seed({{"user", "ann"}});
  ASSERT_TRUE(store->inner().destroy(id));
  store->reset();
  Session s = m.open("sid=" + id);
  s.erase("user");
  CommitResult r = m.commit(s);
  EXPECT_FALSE(r.wrote);
  EXPECT_FALSE(r.set_cookie);
  ASSERT_EQ(store->saves().size(), 1U);  // the update that found it dead
  EXPECT_EQ(store->saves()[0].changes.mode, SessionChanges::Mode::update);
  EXPECT_EQ(store->total_calls(), 1);
  EXPECT_EQ(store->inner().count(), 0U);
  EXPECT_FALSE(s.destroyed());
  EXPECT_TRUE(s.is_new());
  EXPECT_FALSE(s.dirty());
}

TEST_F(LazySessionTest, DestroyIsOneStoreCallAndReadsAfterItMakeNone) {
  std::string id = seed({{"user", "ann"}});
  Session s = m.open("sid=" + id);
  s.destroy();
  EXPECT_EQ(store->calls(Op::destroy), 1);
  EXPECT_EQ(store->total_calls(), 1);
  EXPECT_EQ(s.get<std::string>("user"), std::nullopt);
  EXPECT_TRUE(s.fields().empty());
  EXPECT_EQ(store->total_calls(), 1);  // no load of the id this request killed
  EXPECT_EQ(s.id(), id);
  CommitResult r = m.commit(s);
  ASSERT_TRUE(r.set_cookie);
  EXPECT_EQ(*r.set_cookie, m.clearing_cookie());
  EXPECT_EQ(store->total_calls(), 1);
}

TEST_F(LazySessionTest, RegenerateIsOneStoreCallWithoutALoad) {
  std::string id = seed({{"user", "ann"}});
  Session s = m.open("sid=" + id);
  s.regenerate();
  CommitResult r = m.commit(s);
  EXPECT_EQ(store->calls(Op::regenerate), 1);
  EXPECT_EQ(store->total_calls(), 1);
  ASSERT_TRUE(r.set_cookie);
  EXPECT_EQ(cookie_value(*r.set_cookie), s.id());
  EXPECT_NE(s.id(), id);
  EXPECT_EQ(stored(id), std::nullopt);
  EXPECT_EQ(stored(s.id()), (Fields{{"user", "ann"}}));
  EXPECT_EQ(s.get<std::string>("user"), "ann");  // a read now loads the new id
  EXPECT_EQ(store->loaded_ids(), std::vector<std::string>{s.id()});
}

}  // namespace
}  // namespace redis_session::test
