// Session and SessionManager over a MemoryStore (no server). A counting
// decorator in front of the store shows exactly which store calls each step
// makes, what a commit writes, and lets a test inject typed store failures.

#include "redis_session/session_manager.hpp"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "redis_session/error.hpp"
#include "redis_session/memory_store.hpp"
#include "redis_session/session.hpp"
#include "redis_session/session_id.hpp"
#include "redis_session/session_store.hpp"

namespace redis_session {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// ---------------------------------------------------------------- CountingStore

enum class Op : std::size_t { load, save, increment, destroy, touch, exists, regenerate, count, for_each_id, clear };
constexpr std::size_t op_count = 10;

// Forwards every call to a MemoryStore, counting calls per operation and
// recording each save() that reached the store. fail_next() makes the next call
// of one operation throw instead (before it reaches the store), to test that
// typed store errors reach the application unchanged.
//
// Thread safety: none; each test drives it from one thread.
class CountingStore final : public SessionStore {
 public:
  struct SaveCall {
    std::string id;
    SessionChanges changes;
  };

  explicit CountingStore(MemoryStoreOptions options = {}) : inner_(std::move(options)) {}

  // The store behind the counter: the "other request" in a test, and a way to
  // look at the data without counting.
  MemoryStore& inner() noexcept { return inner_; }

  int calls(Op op) const { return calls_[static_cast<std::size_t>(op)]; }
  int total_calls() const {
    int n = 0;
    for (int c : calls_) n += c;
    return n;
  }
  const std::vector<SaveCall>& saves() const noexcept { return saves_; }
  const std::vector<std::string>& loaded_ids() const noexcept { return loaded_ids_; }
  void reset() {
    calls_.fill(0);
    saves_.clear();
    loaded_ids_.clear();
  }

  template <class E>
  void fail_next(Op op, std::string message) {
    fail_op_ = op;
    fail_ = [message = std::move(message)] { throw E(message); };
  }

  std::optional<Fields> load(std::string_view id) override {
    enter(Op::load);
    loaded_ids_.emplace_back(id);
    return inner_.load(id);
  }
  SaveResult save(std::string_view id, const SessionChanges& changes) override {
    enter(Op::save);
    saves_.push_back({std::string(id), changes});
    return inner_.save(id, changes);
  }
  std::optional<long long> increment(std::string_view id, std::string_view field, long long by, bool create) override {
    enter(Op::increment);
    return inner_.increment(id, field, by, create);
  }
  bool destroy(std::string_view id) override {
    enter(Op::destroy);
    return inner_.destroy(id);
  }
  bool touch(std::string_view id) override {
    enter(Op::touch);
    return inner_.touch(id);
  }
  bool exists(std::string_view id) override {
    enter(Op::exists);
    return inner_.exists(id);
  }
  RegenerateResult regenerate(std::string_view old_id, std::string_view new_id) override {
    enter(Op::regenerate);
    return inner_.regenerate(old_id, new_id);
  }
  std::size_t count() override {
    enter(Op::count);
    return inner_.count();
  }
  void for_each_id(const std::function<void(std::string_view)>& f) override {
    enter(Op::for_each_id);
    inner_.for_each_id(f);
  }
  std::size_t clear() override {
    enter(Op::clear);
    return inner_.clear();
  }

 private:
  void enter(Op op) {
    ++calls_[static_cast<std::size_t>(op)];
    if (fail_ && fail_op_ == op) {
      std::function<void()> fail = std::move(fail_);
      fail_ = nullptr;
      fail();
    }
  }

  MemoryStore inner_;
  std::array<int, op_count> calls_{};
  std::vector<SaveCall> saves_;
  std::vector<std::string> loaded_ids_;
  std::function<void()> fail_;
  Op fail_op_ = Op::load;
};

// ---------------------------------------------------------------- helpers

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

// A Set-Cookie value split at "; ": the first part is name=value.
std::vector<std::string> parts(std::string_view set_cookie) {
  std::vector<std::string> out;
  while (true) {
    auto pos = set_cookie.find("; ");
    out.emplace_back(set_cookie.substr(0, pos));
    if (pos == std::string_view::npos) break;
    set_cookie.remove_prefix(pos + 2);
  }
  return out;
}

bool has_part(std::string_view set_cookie, std::string_view part) {
  for (const std::string& p : parts(set_cookie)) {
    if (p == part) return true;
  }
  return false;
}

bool has_part_starting(std::string_view set_cookie, std::string_view prefix) {
  for (const std::string& p : parts(set_cookie)) {
    if (p.compare(0, prefix.size(), prefix) == 0) return true;
  }
  return false;
}

// The cookie value a Set-Cookie sets, checking that it names `name`.
std::string cookie_value(const std::string& set_cookie, std::string_view name = "sid") {
  std::string first = parts(set_cookie).front();
  std::string prefix = std::string(name) + "=";
  EXPECT_EQ(first.compare(0, prefix.size(), prefix), 0) << set_cookie;
  return first.substr(std::min(prefix.size(), first.size()));
}

bool contains_crlf_or_nul(std::string_view s) {
  return s.find('\r') != std::string_view::npos || s.find('\n') != std::string_view::npos ||
         s.find('\0') != std::string_view::npos;
}

class SessionManagerTest : public testing::Test {
 protected:
  std::shared_ptr<CountingStore> store = std::make_shared<CountingStore>();

  SessionManager manager(SessionManagerOptions options = {}) { return SessionManager(store, std::move(options)); }

  // A live session written straight into the store, as an earlier request
  // would have left it; the counters start from zero afterwards.
  std::string seed(const Fields& fields) {
    std::string id = generate_session_id();
    SessionChanges changes;
    changes.mode = SessionChanges::Mode::create;
    changes.set = fields;
    EXPECT_EQ(store->inner().save(id, changes), SaveResult::saved);
    store->reset();
    return id;
  }

  std::optional<Fields> stored(const std::string& id) { return store->inner().load(id); }
};

// ---------------------------------------------------------------- new sessions

TEST_F(SessionManagerTest, NoCookieGivesANewSessionWithNoStoreTraffic) {
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

TEST_F(SessionManagerTest, OnlyUnrelatedCookiesGiveANewSessionWithNoStoreTraffic) {
  SessionManager m = manager();
  Session s = m.open("theme=dark; lang=en");
  EXPECT_TRUE(s.is_new());
  EXPECT_FALSE(m.commit(s).set_cookie);
  EXPECT_EQ(store->total_calls(), 0);
}

TEST_F(SessionManagerTest, NewSessionWithAValueIsSavedOnceInCreateModeAndGetsACookie) {
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

TEST_F(SessionManagerTest, CommittingAgainAfterASuccessfulCommitDoesNothing) {
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

TEST_F(SessionManagerTest, SetThenEraseOnANewSessionWritesNothing) {
  SessionManager m = manager();
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

// ---------------------------------------------------------------- existing sessions

TEST_F(SessionManagerTest, OpeningAnExistingSessionIsExactlyOneLoad) {
  std::string id = seed({{"user", "ann"}, {"n", 3}});
  SessionManager m = manager();
  Session s = m.open("sid=" + id);
  EXPECT_EQ(store->calls(Op::load), 1);
  EXPECT_EQ(store->total_calls(), 1);
  EXPECT_EQ(store->loaded_ids(), std::vector<std::string>{id});
  EXPECT_FALSE(s.is_new());
  EXPECT_EQ(s.id(), id);
  EXPECT_EQ(s.get<std::string>("user"), "ann");
  EXPECT_EQ(s.get<int>("n"), 3);
  EXPECT_EQ(s.fields().size(), 2U);
}

TEST_F(SessionManagerTest, UnchangedCommitWritesNothingAndSendsNoCookie) {
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

TEST_F(SessionManagerTest, ChangedCommitIsOneSaveOfOnlyTheChanges) {
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
  EXPECT_EQ(store->total_calls(), 2);
  const CountingStore::SaveCall& call = store->saves().front();
  EXPECT_EQ(call.id, id);
  EXPECT_EQ(call.changes.mode, SessionChanges::Mode::update);
  EXPECT_EQ(call.changes.set, (Fields{{"a", 10}, {"d", json::array({1, 2})}}));
  EXPECT_EQ(call.changes.erase, std::vector<std::string>{"b"});
  EXPECT_EQ(stored(id), (Fields{{"a", 10}, {"c", 3}, {"d", json::array({1, 2})}}));
}

TEST_F(SessionManagerTest, ConcurrentWritersToDifferentFieldsDoNotLoseEachOther) {
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

TEST_F(SessionManagerTest, EraseOfALoadedFieldIsInTheEraseList) {
  std::string id = seed({{"a", 1}, {"b", 2}});
  SessionManager m = manager();
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

TEST_F(SessionManagerTest, SetThenEraseOnAPersistedSessionSendsOnlyTheErase) {
  std::string id = seed({{"a", 1}});
  SessionManager m = manager();
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

TEST_F(SessionManagerTest, EraseThenSetSendsOnlyTheSet) {
  std::string id = seed({{"a", 1}});
  SessionManager m = manager();
  Session s = m.open("sid=" + id);
  s.erase("a");
  s.set("a", 2);
  m.commit(s);
  ASSERT_EQ(store->saves().size(), 1U);
  EXPECT_EQ(store->saves()[0].changes.set, (Fields{{"a", 2}}));
  EXPECT_TRUE(store->saves()[0].changes.erase.empty());
  EXPECT_EQ(stored(id), (Fields{{"a", 2}}));
}

TEST_F(SessionManagerTest, FieldNamesAreCheckedOnSetAndErase) {
  SessionManager m = manager();
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

TEST_F(SessionManagerTest, UserTypeRoundTripsThroughCommitAndReopen) {
  SessionManager m = manager();
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

TEST_F(SessionManagerTest, GetWithTheWrongTypeThrowsDecodeErrorNamingTheField) {
  std::string id = seed({{"name", "ann"}, {"n", 5}, {"list", json::array({1})}});
  SessionManager m = manager();
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
TEST_F(SessionManagerTest, GetOfANumberTheTypeCannotHoldThrowsDecodeError) {
  std::string id = seed({{"frac", 3.7},
                         {"whole_float", 3.0},
                         {"neg", -1},
                         {"big", 5'000'000'000LL},
                         {"huge", 1e30},
                         {"vast", 1e300},
                         {"u64max", std::numeric_limits<std::uint64_t>::max()},
                         {"flag", true},
                         {"small", 200}});
  SessionManager m = manager();
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

TEST_F(SessionManagerTest, GetOrReturnsTheFallbackOnlyWhenAbsent) {
  std::string id = seed({{"n", 7}, {"zero", 0}, {"empty", ""}});
  SessionManager m = manager();
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

// ---------------------------------------------------------------- increment

TEST_F(SessionManagerTest, IncrementOnANewSessionCreatesItAndCommitSendsTheCookieWithoutASave) {
  SessionManager m = manager();
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

TEST_F(SessionManagerTest, IncrementOnAnExistingSessionGoesStraightToTheStore) {
  std::string id = seed({{"n", 41}, {"user", "ann"}});
  SessionManager m = manager();
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

TEST_F(SessionManagerTest, IncrementIsExactAcrossConcurrentRequests) {
  std::string id = seed({{"n", 0}});
  SessionManager m = manager();
  Session a = m.open("sid=" + id);
  Session b = m.open("sid=" + id);
  EXPECT_EQ(a.increment("n"), 1);
  EXPECT_EQ(b.increment("n"), 2);
  a.set("other", true);  // a's commit must not write its stale copy of n
  m.commit(a);
  m.commit(b);
  EXPECT_EQ(stored(id), (Fields{{"n", 2}, {"other", true}}));
}

TEST_F(SessionManagerTest, IncrementAfterAConcurrentDestroyContinuesAsAFreshSession) {
  std::string id = seed({{"n", 10}, {"user", "ann"}});
  SessionManager m = manager();
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

TEST_F(SessionManagerTest, IncrementOfANonIntegerFieldThrowsAndChangesNothing) {
  std::string id = seed({{"name", "ann"}});
  SessionManager m = manager();
  Session s = m.open("sid=" + id);
  EXPECT_THROW(s.increment("name"), InvalidOptionsError);
  EXPECT_EQ(s.get<std::string>("name"), "ann");
  EXPECT_EQ(stored(id), (Fields{{"name", "ann"}}));
}

// A pending local change of the field must count: the increment applies to
// what this request sees, and commit must not undo it afterwards.
TEST_F(SessionManagerTest, IncrementAfterAnUncommittedEraseStartsFromZero) {
  std::string id = seed({{"n", 5}});
  SessionManager m = manager();
  Session s = m.open("sid=" + id);
  s.erase("n");
  EXPECT_EQ(s.increment("n"), 1);
  EXPECT_EQ(s.get<long long>("n"), 1);
  m.commit(s);
  EXPECT_EQ(stored(id), (Fields{{"n", 1}}));
  EXPECT_EQ(m.open("sid=" + id).get<long long>("n"), 1);
}

TEST_F(SessionManagerTest, IncrementAfterAnUncommittedSetAddsToTheNewValue) {
  std::string id = seed({{"n", 5}});
  SessionManager m = manager();
  Session s = m.open("sid=" + id);
  s.set("n", 100);
  EXPECT_EQ(s.increment("n"), 101);
  EXPECT_EQ(s.get<long long>("n"), 101);
  m.commit(s);
  EXPECT_EQ(stored(id), (Fields{{"n", 101}}));
}

TEST_F(SessionManagerTest, IncrementAfterAnUncommittedSetOnANewSessionAddsToIt) {
  SessionManager m = manager();
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

TEST_F(SessionManagerTest, IncrementAfterAnUncommittedNonIntegerSetThrows) {
  std::string id = seed({{"n", 5}});
  SessionManager m = manager();
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

TEST_F(SessionManagerTest, RegenerateMovesAPersistedSessionToANewId) {
  std::string id = seed({{"user", "ann"}});
  SessionManager m = manager();
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

TEST_F(SessionManagerTest, RegenerateKeepsPendingChangesForTheNewId) {
  std::string id = seed({{"user", "ann"}});
  SessionManager m = manager();
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

TEST_F(SessionManagerTest, RegenerateOnANewSessionOnlyDrawsANewId) {
  SessionManager m = manager();
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

TEST_F(SessionManagerTest, RegenerateAfterAConcurrentDestroyStartsFresh) {
  std::string id = seed({{"user", "ann"}});
  SessionManager m = manager();
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

TEST_F(SessionManagerTest, DestroyKillsTheSessionAndCommitClearsTheCookie) {
  std::string id = seed({{"user", "ann"}});
  SessionManager m = manager();
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

TEST_F(SessionManagerTest, DestroyDiscardsPendingChanges) {
  std::string id = seed({{"user", "ann"}});
  SessionManager m = manager();
  Session s = m.open("sid=" + id);
  s.set("cart", 1);
  s.destroy();
  EXPECT_FALSE(s.dirty());
  m.commit(s);
  EXPECT_EQ(store->calls(Op::save), 0);
  EXPECT_EQ(stored(id), std::nullopt);
}

TEST_F(SessionManagerTest, DestroyOfANewSessionWithoutACookieSendsNothing) {
  SessionManager m = manager();
  Session s = m.open("");
  s.set("x", 1);
  s.destroy();
  CommitResult r = m.commit(s);
  EXPECT_FALSE(r.set_cookie);
  EXPECT_EQ(store->total_calls(), 0);
}

TEST_F(SessionManagerTest, DestroyOfASessionFromAStaleCookieClearsTheCookie) {
  SessionManager m = manager();
  Session s = m.open("sid=" + generate_session_id());  // unknown id
  s.destroy();
  CommitResult r = m.commit(s);
  ASSERT_TRUE(r.set_cookie);
  EXPECT_TRUE(has_part(*r.set_cookie, "Max-Age=0"));
  EXPECT_EQ(store->calls(Op::destroy), 0);  // nothing stored to kill
}

TEST_F(SessionManagerTest, DestroyAfterIncrementKillsTheCreatedSession) {
  SessionManager m = manager();
  Session s = m.open("");
  s.increment("n");
  std::string id = s.id();
  s.destroy();
  EXPECT_EQ(stored(id), std::nullopt);
  CommitResult r = m.commit(s);
  ASSERT_TRUE(r.set_cookie);
  EXPECT_TRUE(has_part(*r.set_cookie, "Max-Age=0"));
}

TEST_F(SessionManagerTest, ConcurrentDestroyBeforeCommitIsNotResurrected) {
  std::string id = seed({{"user", "ann"}});
  SessionManager m = manager();
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

TEST_F(SessionManagerTest, ConcurrentDestroyWithNothingChangedWritesNothing) {
  std::string id = seed({{"user", "ann"}});
  SessionManager m = manager();
  Session s = m.open("sid=" + id);
  store->inner().destroy(id);
  CommitResult r = m.commit(s);
  EXPECT_FALSE(r.wrote);
  EXPECT_FALSE(r.set_cookie);  // it cannot know without a store call, and makes none
  EXPECT_EQ(store->total_calls(), 1);
  EXPECT_EQ(stored(id), std::nullopt);
}

// ---------------------------------------------------------------- strict ids

TEST_F(SessionManagerTest, AWellFormedUnknownIdIsNeverAdopted) {
  std::string chosen = generate_session_id();
  SessionManager m = manager();
  Session s = m.open("sid=" + chosen);
  EXPECT_EQ(store->calls(Op::load), 1);
  EXPECT_TRUE(s.is_new());
  EXPECT_NE(s.id(), chosen);
  s.set("user", "ann");
  CommitResult r = m.commit(s);
  ASSERT_TRUE(r.set_cookie);
  EXPECT_NE(cookie_value(*r.set_cookie), chosen);
  EXPECT_EQ(cookie_value(*r.set_cookie), s.id());
  EXPECT_EQ(stored(chosen), std::nullopt);
}

TEST_F(SessionManagerTest, AnExpiredIdIsNeverAdopted) {
  store = std::make_shared<CountingStore>(MemoryStoreOptions{.expiry = {.idle_timeout = 20ms}});
  std::string id = seed({{"user", "ann"}});
  std::this_thread::sleep_for(60ms);
  SessionManager m = manager();
  Session s = m.open("sid=" + id);
  EXPECT_EQ(store->calls(Op::load), 1);
  EXPECT_TRUE(s.is_new());
  EXPECT_FALSE(s.contains("user"));
  EXPECT_NE(s.id(), id);
}

TEST_F(SessionManagerTest, MalformedIdsNeverReachTheStore) {
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

TEST_F(SessionManagerTest, AnOverlongCookieHeaderIsIgnoredWithoutAStoreCall) {
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

TEST_F(SessionManagerTest, DuplicateCookiesWithTheSameValidIdAreAccepted) {
  std::string id = seed({{"user", "ann"}});
  SessionManager m = manager();
  Session s = m.open("sid=" + id + "; sid=" + id);
  EXPECT_FALSE(s.is_new());
  EXPECT_EQ(s.id(), id);
  EXPECT_EQ(store->calls(Op::load), 1);
}

TEST_F(SessionManagerTest, DuplicateCookiesWithDifferentValidIdsAreBothDistrusted) {
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

TEST_F(SessionManagerTest, AMalformedDuplicateDoesNotHideTheValidId) {
  std::string id = seed({{"user", "ann"}});
  SessionManager m = manager();
  for (const std::string& header : {"sid=garbage; sid=" + id, "sid=" + id + "; sid=*", "sid=; sid=" + id}) {
    Session s = m.open(header);
    EXPECT_EQ(s.id(), id) << header;
    EXPECT_EQ(store->loaded_ids(), std::vector<std::string>{id}) << header;
    store->reset();
  }
}

TEST_F(SessionManagerTest, OurCookieIsFoundAmongOthersWithOddSpacingAndQuotes) {
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
  for (const std::string& header : headers) {
    Session s = m.open(header);
    EXPECT_FALSE(s.is_new()) << header;
    EXPECT_EQ(s.id(), id) << header;
    EXPECT_EQ(store->loaded_ids(), std::vector<std::string>{id}) << header;
    store->reset();
  }
}

TEST_F(SessionManagerTest, CookiesWhoseNameMerelyResemblesOursAreIgnored) {
  std::string id = seed({{"user", "ann"}});
  SessionManager m = manager();
  for (const std::string& header : {"sidx=" + id, "xsid=" + id, "SID=" + id, "Sid=" + id, "s id=" + id,
                                    "sidx=" + id + "; xsid=" + id, "__Host-sid=" + id, id, "=" + id}) {
    Session s = m.open(header);
    EXPECT_EQ(store->total_calls(), 0) << header;
    EXPECT_TRUE(s.is_new()) << header;
  }
}

// ---------------------------------------------------------------- cookie options

TEST_F(SessionManagerTest, CustomCookieOptionsAppearInTheCookie) {
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

TEST_F(SessionManagerTest, SameSiteNoneWithSecure) {
  SessionManagerOptions o;
  o.cookie.same_site = SameSite::none;
  o.cookie.secure = true;
  SessionManager m = manager(o);
  std::string c = m.cookie_for("ID");
  EXPECT_TRUE(has_part(c, "SameSite=None"));
  EXPECT_TRUE(has_part(c, "Secure"));
}

TEST_F(SessionManagerTest, HttpOnlyCanBeTurnedOff) {
  SessionManagerOptions o;
  o.cookie.http_only = false;
  SessionManager m = manager(o);
  EXPECT_EQ(m.cookie_for("ID"), "sid=ID; Path=/; SameSite=Lax");
}

TEST_F(SessionManagerTest, MaxAgeAppearsAndTheCookieSlidesOnEveryCommit) {
  SessionManagerOptions o;
  o.cookie.max_age = std::chrono::hours(2);
  SessionManager m = manager(o);
  Session s = m.open("");
  s.set("k", 1);
  CommitResult first = m.commit(s);
  ASSERT_TRUE(first.set_cookie);
  EXPECT_TRUE(has_part(*first.set_cookie, "Max-Age=7200"));
  std::string id = s.id();

  store->reset();
  Session again = m.open("sid=" + id);
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

TEST_F(SessionManagerTest, InvalidOptionsAreRejected) {
  auto rejects = [&](SessionManagerOptions o) -> testing::AssertionResult {
    try {
      SessionManager m(store, std::move(o));
    } catch (const InvalidOptionsError& e) {
      if (e.errc() != Errc::invalid_options) return testing::AssertionFailure() << "wrong code: " << e.what();
      return testing::AssertionSuccess();
    }
    return testing::AssertionFailure() << "accepted";
  };
  auto with_name = [](std::string name) {
    SessionManagerOptions o;
    o.cookie.name = std::move(name);
    return o;
  };
  auto with_path = [](std::string path) {
    SessionManagerOptions o;
    o.cookie.path = std::move(path);
    return o;
  };
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
  EXPECT_FALSE(rejects(with_name("__Host-sid")));
  EXPECT_FALSE(rejects(with_path("/a/b-c_d.e")));
  EXPECT_NO_THROW(SessionManagerOptions{}.validate());
}

// ---------------------------------------------------------------- store errors

TEST_F(SessionManagerTest, StoreErrorsFromOpenPropagateTyped) {
  std::string id = seed({{"user", "ann"}});
  SessionManager m = manager();
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

TEST_F(SessionManagerTest, AFailedCommitPropagatesTypedAndCanBeRetried) {
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

TEST_F(SessionManagerTest, AFailedFirstCommitOfANewSessionRetriesUnderTheSameId) {
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

TEST_F(SessionManagerTest, StoreErrorsFromImmediateOperationsPropagateTyped) {
  std::string id = seed({{"n", 1}});
  SessionManager m = manager();
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

TEST_F(SessionManagerTest, ACreateThatHitsATakenIdDrawsANewOne) {
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

}  // namespace
}  // namespace redis_session

namespace redis_session {
namespace {

static_assert(!std::is_copy_constructible_v<Session>, "two copies committing would write twice");
static_assert(std::is_nothrow_move_constructible_v<Session>);

TEST_F(SessionManagerTest, SettingTheSameValueOrErasingAnAbsentFieldWritesNothing) {
  std::string id = seed({{"a", 1}, {"b", "x"}});
  SessionManager m = manager();
  Session s = m.open("sid=" + id);
  s.set("a", 1);
  s.set("b", "x");
  s.erase("never-there");
  EXPECT_FALSE(s.dirty());
  CommitResult r = m.commit(s);
  EXPECT_FALSE(r.wrote);
  EXPECT_TRUE(store->saves().empty());
}

TEST_F(SessionManagerTest, GetOrWithAStringLiteralReadsAString) {
  std::string id = seed({{"user", "ann"}});
  SessionManager m = manager();
  Session s = m.open("sid=" + id);
  std::string user = s.get_or("user", "guest");
  std::string missing = s.get_or("nobody", "guest");
  EXPECT_EQ(user, "ann");
  EXPECT_EQ(missing, "guest");
}

}  // namespace
}  // namespace redis_session
