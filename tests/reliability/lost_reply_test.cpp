// A reply lost on its way back: the server ran the request, the client saw
// not one byte of the answer before the connection was reset (the fault
// proxy's drop_next_replies). A pooled connection that had worked before and
// fails that way looks exactly like a socket the server closed while it sat
// idle, so the store sends idempotent calls once more; these tests pin down
// what each operation reports then, and that nothing is written twice or
// left behind.

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "redis_session/error.hpp"
#include "redis_session/redis_pool_store.hpp"
#include "redis_session/session_manager.hpp"
#include "support/proxied_redis.hpp"

namespace redis_session {
namespace {

using namespace std::chrono_literals;

// One pooled connection, used without a PING first: the call itself meets
// the reset.
RedisPoolStoreOptions one_connection(redis::ConnectionOptions connection) {
  RedisPoolStoreOptions o;
  o.connection = std::move(connection);
  o.pool.max_open = 1;
  o.pool.validate_after = 1h;
  return o;
}

// Every test has a redis-server and a fault proxy in front of it.
class LostReply : public ::testing::Test, protected test::ProxiedRedis {
 protected:
  RedisPoolStoreOptions via_proxy() const { return one_connection(test::connection_via(proxy)); }
  long long dbsize() const { return server.command({"DBSIZE"}).integer; }
};

SessionChanges create(std::string field, long long value) {
  return {SessionChanges::Mode::create, {{std::move(field), value}}, {}};
}

// Before the fix the second try found the first one's hash and answered
// `exists`: the caller was told the id was taken by somebody else.
TEST_F(LostReply, ACreateWhoseReplyWasLostIsSavedOnce) {
  RedisPoolStore store(via_proxy());
  // The pool's one connection has now worked, and the script is cached (a
  // lost NOSCRIPT would be a lost reply of a request that did not run).
  ASSERT_EQ(store.save("other", create("a", 0)), SaveResult::saved);
  proxy.drop_next_replies(1);
  EXPECT_EQ(store.save("lost", create("a", 1)), SaveResult::saved);
  EXPECT_EQ(proxy.resets_mid_reply(), 1u) << "the fault happened";
  EXPECT_EQ((*store.load("lost"))["a"], 1);
  EXPECT_EQ(dbsize(), 2);
  // A create of an id that really is taken still says so.
  EXPECT_EQ(store.save("lost", create("a", 2)), SaveResult::exists);
  EXPECT_EQ((*store.load("lost"))["a"], 1);
}

// Before the fix SessionManager took that `exists` for a 128-bit collision,
// moved the session to a fresh id and saved it again: the user got another
// id, and the first copy stayed in Redis until it expired.
TEST_F(LostReply, ANewSessionKeepsItsIdAndIsWrittenOnce) {
  auto store = std::make_shared<RedisPoolStore>(via_proxy());
  SessionManager manager(store);
  ASSERT_EQ(store->save("other", create("a", 0)), SaveResult::saved);
  Session s = manager.open("");
  s.set("user", "ann");
  const std::string id = s.id();
  proxy.drop_next_replies(1);
  CommitResult result = manager.commit(s);
  EXPECT_EQ(proxy.resets_mid_reply(), 1u);
  EXPECT_TRUE(result.wrote);
  EXPECT_EQ(s.id(), id) << "the session moved to another id";
  EXPECT_EQ(dbsize(), 2) << "a copy was left behind";
  Session again = manager.open("sid=" + id);
  EXPECT_EQ(again.get<std::string>("user"), "ann");
}

// The other side of the same retry: the pooled socket was closed by the
// server while it sat idle (Redis's `timeout`, a restart), so the first try
// never ran, and the id really is taken meanwhile. Its retry must still say
// `exists`: taking any EXISTS after a failed try for our own write (the first
// fix) told a caller who chose the id that nothing-written was `saved`.
TEST_F(LostReply, ACreateRetriedAfterAClosedIdleSocketStillSeesATakenId) {
  RedisPoolStoreOptions o = one_connection(server.options());
  RedisPoolStore store(o);
  ASSERT_EQ(store.save("warm", create("a", 0)), SaveResult::saved);  // the pool's one connection has worked
  EXPECT_GE(server.command({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"}).integer, 1);
  RedisPoolStore other(o);
  ASSERT_EQ(other.save("taken", create("a", 1)), SaveResult::saved);
  EXPECT_EQ(store.save("taken", create("a", 2)), SaveResult::exists);
  EXPECT_EQ((*store.load("taken"))["a"], 1);
  // And the retry did happen: the killed connection was replaced.
  EXPECT_EQ(store.pools().at(0)->stats().created, 2u);
}

TEST_F(LostReply, AnUpdateWhoseReplyWasLostIsAppliedOnce) {
  RedisPoolStore store(via_proxy());
  ASSERT_EQ(store.save("s", create("a", 1)), SaveResult::saved);
  proxy.drop_next_replies(1);
  EXPECT_EQ(store.save("s", {SessionChanges::Mode::update, {{"a", 2}}, {"b"}}), SaveResult::saved);
  EXPECT_EQ(proxy.resets_mid_reply(), 1u);
  auto loaded = store.load("s");
  ASSERT_TRUE(loaded);
  EXPECT_EQ((*loaded)["a"], 2);
  EXPECT_EQ(loaded->size(), 1u);
}

// An increment may have counted: it is reported, never sent again.
TEST_F(LostReply, AnIncrementWhoseReplyWasLostIsReportedNotRepeated) {
  RedisPoolStore store(via_proxy());
  ASSERT_EQ(*store.increment("s", "n", 1, true), 1);
  proxy.drop_next_replies(1);
  EXPECT_THROW(store.increment("s", "n", 1, true), IoError);
  EXPECT_EQ(*store.increment("s", "n", 1, true), 3) << "the lost one counted once, on the server";
}

}  // namespace
}  // namespace redis_session
