#pragma once
// The session layer's conformance suite: what a request sees through
// SessionManager and Session, on every store of StoreTypes (a real Redis, in
// memory, a Redis Cluster) and in both load modes. Lazy and eager loading
// differ only in when the store is asked (the unit tests count the calls);
// what a request reads and what it leaves in the store are the same, and
// these tests assert that for each mode. Include after store_conformance.hpp,
// whose helpers (new_id aside) it uses.

#include <gtest/gtest.h>

#include <initializer_list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "redis_session/error.hpp"
#include "redis_session/session_id.hpp"
#include "redis_session/session_manager.hpp"
#include "redis_session/session_store.hpp"

namespace redis_session {
namespace {

template <class Traits>
class ManagerConformanceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { Traits::set_up_suite(); }
  static void TearDownTestSuite() { Traits::tear_down_suite(); }

  std::shared_ptr<SessionStore> store{Traits::make(idle_expiry(std::chrono::minutes(5)))};

  SessionManager manager(LoadMode mode) {
    SessionManagerOptions options;
    options.load = mode;
    return SessionManager(store, options);
  }

  // A live session as an earlier request left it; its Cookie header.
  std::string seed(const Fields& fields, std::string* id_out = nullptr) {
    const std::string id = generate_session_id();
    EXPECT_EQ(store->save(id, creating(fields)), SaveResult::saved);
    if (id_out != nullptr) *id_out = id;
    return "sid=" + id;
  }

  // Runs `body` with a manager of each load mode in turn: what a request
  // sees and leaves in the store is the same in both.
  template <class Body>
  void in_both_modes(Body body) {
    for (LoadMode mode : {LoadMode::lazy, LoadMode::eager}) {
      SCOPED_TRACE(mode == LoadMode::lazy ? "lazy" : "eager");
      SessionManager m = manager(mode);
      body(m);
    }
  }

  // The id a Set-Cookie sets (empty for a clearing cookie).
  static std::string cookie_id(const std::optional<std::string>& set_cookie) {
    EXPECT_TRUE(set_cookie.has_value());
    if (!set_cookie) return {};
    const std::string first = set_cookie->substr(0, set_cookie->find(';'));
    return first.substr(first.find('=') + 1);
  }
};

TYPED_TEST_SUITE(ManagerConformanceTest, StoreTypes, StoreNames);

TYPED_TEST(ManagerConformanceTest, ANextRequestReadsWhatTheLastCommitted) {
  this->in_both_modes([&](SessionManager& m) {
    Session first = m.open("");
    first.set("user", "ann");
    const std::string id = this->cookie_id(m.commit(first).set_cookie);

    Session next = m.open("sid=" + id);
    EXPECT_FALSE(next.is_new());
    EXPECT_EQ(next.id(), id);
    EXPECT_EQ(next.get_or("user", "guest"), "ann");
    EXPECT_FALSE(m.commit(next).wrote);
  });
}

TYPED_TEST(ManagerConformanceTest, PendingWritesGoOverTheLoadedFields) {
  this->in_both_modes([&](SessionManager& m) {
    std::string id;
    Session s = m.open(this->seed({{"a", 1}, {"b", 2}, {"c", 3}}, &id));
    s.set("a", 10);
    s.erase("b");
    s.set("c", 3);  // the stored value already
    EXPECT_EQ(s.fields(), (Fields{{"a", 10}, {"c", 3}}));
    EXPECT_TRUE(m.commit(s).wrote);
    EXPECT_TRUE(same_fields({{"a", 10}, {"c", 3}}, this->store->load(id)));
  });
}

TYPED_TEST(ManagerConformanceTest, WriteOnlyRequestsOnDifferentFieldsBothPersist) {
  this->in_both_modes([&](SessionManager& m) {
    std::string id;
    const std::string cookie = this->seed({{"user", "ann"}}, &id);
    race(8, [&](int i) {
      Session s = m.open(cookie);
      s.set("tab" + std::to_string(i), i);
      if (!m.commit(s).wrote) throw std::runtime_error("a write was lost");
    });
    Fields expected{{"user", "ann"}};
    for (int i = 0; i < 8; ++i) expected.emplace("tab" + std::to_string(i), i);
    EXPECT_TRUE(same_fields(expected, this->store->load(id)));
  });
}

// Expired or logged out before this request read anything: the write starts
// a new session, with a new id and only this request's writes.
TYPED_TEST(ManagerConformanceTest, AWriteToADeadIdContinuesAsANewSessionWithOnlyItsWrites) {
  this->in_both_modes([&](SessionManager& m) {
    std::string old_id;
    const std::string cookie = this->seed({{"user", "ann"}, {"cart", 3}}, &old_id);
    ASSERT_TRUE(this->store->destroy(old_id));

    Session s = m.open(cookie);
    s.set("flash", "signed out elsewhere");
    s.erase("cart");
    const CommitResult r = m.commit(s);
    EXPECT_TRUE(r.wrote);
    const std::string new_id = this->cookie_id(r.set_cookie);
    EXPECT_NE(new_id, old_id);
    EXPECT_TRUE(is_valid_session_id(new_id));
    EXPECT_EQ(s.id(), new_id);
    EXPECT_EQ(this->store->load(old_id), std::nullopt) << "the old id stays dead";
    EXPECT_TRUE(same_fields({{"flash", "signed out elsewhere"}}, this->store->load(new_id)));
  });
}

TYPED_TEST(ManagerConformanceTest, AnIncrementOfADeadIdContinuesAsANewSession) {
  this->in_both_modes([&](SessionManager& m) {
    std::string old_id;
    const std::string cookie = this->seed({{"count", 41}, {"user", "ann"}}, &old_id);
    ASSERT_TRUE(this->store->destroy(old_id));

    Session s = m.open(cookie);
    EXPECT_EQ(s.increment("count"), 1) << "nothing of the old value";
    const std::string new_id = this->cookie_id(m.commit(s).set_cookie);
    EXPECT_NE(new_id, old_id);
    EXPECT_EQ(this->store->load(old_id), std::nullopt);
    EXPECT_TRUE(same_fields({{"count", 1}}, this->store->load(new_id)));
  });
}

// Read alive, then logged out by another request: the commit must not bring
// any of it back, under the old id or a new one.
TYPED_TEST(ManagerConformanceTest, ASessionReadAliveThenDestroyedElsewhereIsNotResurrected) {
  this->in_both_modes([&](SessionManager& m) {
    std::string id;
    Session s = m.open(this->seed({{"user", "ann"}}, &id));
    ASSERT_EQ(s.get_or("user", ""), "ann");
    ASSERT_TRUE(this->store->destroy(id));  // logout in another tab
    s.set("cart", json::array({"book"}));

    const CommitResult r = m.commit(s);
    EXPECT_FALSE(r.wrote);
    ASSERT_TRUE(r.set_cookie);
    EXPECT_EQ(this->cookie_id(r.set_cookie), "") << "the cookie is cleared";
    EXPECT_TRUE(s.destroyed());
    EXPECT_EQ(this->store->load(id), std::nullopt);
  });
}

TYPED_TEST(ManagerConformanceTest, DestroyThenStartNewGivesANewIdAndKeepsTheOldDead) {
  this->in_both_modes([&](SessionManager& m) {
    std::string old_id;
    Session s = m.open(this->seed({{"user", "ann"}}, &old_id));
    s.destroy();
    EXPECT_THROW(s.set("flash", "bye"), SessionStateError);
    s.start_new();
    EXPECT_TRUE(s.is_new());
    EXPECT_FALSE(s.contains("user"));
    s.set("flash", "bye");
    const std::string new_id = this->cookie_id(m.commit(s).set_cookie);
    EXPECT_NE(new_id, old_id);
    EXPECT_EQ(this->store->load(old_id), std::nullopt);
    EXPECT_TRUE(same_fields({{"flash", "bye"}}, this->store->load(new_id)));

    // The old cookie, replayed, finds nothing.
    Session replay = m.open("sid=" + old_id);
    EXPECT_TRUE(replay.is_new());
    EXPECT_FALSE(replay.contains("user"));
  });
}

TYPED_TEST(ManagerConformanceTest, RegenerateMovesTheDataWhetherOrNotItWasRead) {
  this->in_both_modes([&](SessionManager& m) {
    std::string old_id;
    Session s = m.open(this->seed({{"cart", 2}}, &old_id));
    s.regenerate();
    s.set("user", "ann");
    EXPECT_EQ(s.fields(), (Fields{{"cart", 2}, {"user", "ann"}}));
    const std::string new_id = this->cookie_id(m.commit(s).set_cookie);
    EXPECT_NE(new_id, old_id);
    EXPECT_EQ(this->store->load(old_id), std::nullopt);
    EXPECT_TRUE(same_fields({{"cart", 2}, {"user", "ann"}}, this->store->load(new_id)));
  });
}

TYPED_TEST(ManagerConformanceTest, ClientMistakesAreTypedAndWriteNothing) {
  this->in_both_modes([&](SessionManager& m) {
    std::string id;
    Session s = m.open(this->seed({{"name", "ann"}}, &id));
    EXPECT_THROW(s.set("", 1), InvalidArgumentError);
    EXPECT_THROW(s.increment(std::string(1, '\0')), InvalidArgumentError);
    EXPECT_THROW(s.increment("name"), SessionStateError);
    EXPECT_FALSE(m.commit(s).wrote);
    EXPECT_TRUE(same_fields({{"name", "ann"}}, this->store->load(id))) << "nothing written";
  });
}

}  // namespace
}  // namespace redis_session
