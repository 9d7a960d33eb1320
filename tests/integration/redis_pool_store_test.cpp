// What only RedisPoolStore has: codecs and their storage format, bad bytes
// placed in Redis by hand, the script cache, round trips, restarts, and key
// namespaces. The shared semantics are in store_conformance_test.cpp.

#include "redis_session/redis_pool_store.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "redis_session/error.hpp"
#include "support/redis_server.hpp"
#include "support/shared_server.hpp"

namespace redis_session {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using test::RedisServer;

class RedisPoolStoreTest : public test::SharedRedisServer<false> {
 protected:
  // A fresh namespace per store so tests never see each other's keys.
  RedisPoolStoreOptions options() {
    static std::atomic<int> n{0};
    RedisPoolStoreOptions o;
    o.url = server_->url();
    o.key_namespace = "t" + std::to_string(n++);
    return o;
  }

  // Raw commands, bypassing the store.
  redis::Reply raw(std::initializer_list<std::string_view> args) { return server_->command(args); }

  long long command_calls(const std::string& command) {
    std::string info = raw({"INFO", "commandstats"}).str;
    std::string needle = "cmdstat_" + command + ":calls=";
    auto pos = info.find(needle);
    return pos == std::string::npos ? 0 : std::stoll(info.substr(pos + needle.size()));
  }
};

SessionChanges create(Fields set) { return {SessionChanges::Mode::create, std::move(set), {}}; }
SessionChanges update(Fields set, std::vector<std::string> erase = {}) {
  return {SessionChanges::Mode::update, std::move(set), std::move(erase)};
}

Fields every_json_type() {
  return {{"null", nullptr},
          {"true", true},
          {"false", false},
          {"int", 42},
          {"negative", -7},
          {"big", 9007199254740993LL},
          {"unsigned_max", std::numeric_limits<std::uint64_t>::max()},
          {"double", 3.25},
          {"string", "hello"},
          {"digits_string", "12345"},
          {"binaryish", std::string("a\0b\r\nc", 6)},
          {"unicode", "grüße ✓"},
          {"array", json::array({1, "two", nullptr, json::object()})},
          {"object", {{"nested", {{"deep", json::array({1.5, false})}}}}},
          {"empty_object", json::object()},
          {"empty_array", json::array()}};
}

Codec xor_codec() {
  // Stands in for an encrypting codec: wraps JSON text in a reversible transform.
  auto flip = [](std::string s) {
    for (char& c : s) c = static_cast<char>(c ^ 0x5a);
    return "X1" + s;
  };
  return {"xor",
          [flip](const json& v) { return flip(v.dump()); },
          [](std::string_view bytes) {
            if (bytes.substr(0, 2) != "X1") throw std::runtime_error("not xor-encoded");
            std::string s(bytes.substr(2));
            for (char& c : s) c = static_cast<char>(c ^ 0x5a);
            return json::parse(s);
          }};
}

TEST_F(RedisPoolStoreTest, EveryCodecRoundTripsEveryJsonType) {
  for (const Codec& codec : {json_codec(), cbor_codec(), msgpack_codec(), xor_codec()}) {
    SCOPED_TRACE(codec.name);
    RedisPoolStoreOptions o = options();
    o.codec = codec;
    RedisPoolStore store(o);
    ASSERT_EQ(store.save("s1", create(every_json_type())), SaveResult::saved);
    auto loaded = store.load("s1");
    ASSERT_TRUE(loaded);
    EXPECT_EQ(*loaded, every_json_type());
  }
}

TEST_F(RedisPoolStoreTest, StorageFormatIsOneHashFieldPerSessionField) {
  RedisPoolStoreOptions o = options();
  o.codec = msgpack_codec();
  RedisPoolStore store(o);
  store.save("fmt", create({{"count", 41}, {"name", "ann"}}));
  const std::string key = o.key_namespace + ":fmt";
  EXPECT_EQ(raw({"TYPE", key}).str, "hash");
  EXPECT_EQ(raw({"HGET", key, "count"}).str, "41") << "integers are decimal text whatever the codec";
  EXPECT_EQ(raw({"HGET", key, "name"}).str, "\xa3" "ann") << "other values go through the codec";
  EXPECT_EQ(*store.increment("fmt", "count", 1, false), 42) << "HINCRBY works on msgpack-store integers";
  EXPECT_EQ((*store.load("fmt"))["count"], 42);
  long long ttl = raw({"PTTL", key}).integer;
  EXPECT_GT(ttl, 23 * 3600 * 1000LL);  // the bounded default idle timeout, 24 h
  EXPECT_LE(ttl, 24 * 3600 * 1000LL);
}

TEST_F(RedisPoolStoreTest, FallbackCodecsMigrateFormats) {
  RedisPoolStoreOptions old_format = options();
  RedisPoolStore writer(old_format);  // json
  writer.save("m", create({{"name", "ann"}, {"tags", json::array({"a"})}}));

  RedisPoolStoreOptions strict = old_format;
  strict.codec = cbor_codec();
  RedisPoolStore cbor_only(strict);
  EXPECT_THROW(cbor_only.load("m"), DecodeError);

  RedisPoolStoreOptions migrating = strict;
  migrating.fallback_codecs = {json_codec()};
  RedisPoolStore reader(migrating);
  auto loaded = reader.load("m");
  ASSERT_TRUE(loaded);
  EXPECT_EQ((*loaded)["name"], "ann");
  reader.save("m", update({{"name", "bob"}}));  // rewritten in the new format
  EXPECT_EQ(raw({"HGET", old_format.key_namespace + ":m", "name"}).str, "\x63" "bob");
  EXPECT_EQ((*reader.load("m"))["tags"], json::array({"a"}));
}

TEST_F(RedisPoolStoreTest, CorruptBytesAreATypedDecodeErrorNamingTheField) {
  RedisPoolStoreOptions o = options();
  RedisPoolStore store(o);
  const std::string id = "corrupt-session-0123456789";
  store.save(id, create({{"ok", "fine"}}));
  const std::string key = o.key_namespace + ":" + id;
  raw({"HSET", key, "broken", "{\"unterminated SECRET-CONTENT"});
  try {
    store.load(id);
    FAIL() << "corrupt bytes decoded";
  } catch (const DecodeError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("'broken'"), std::string::npos) << what;
    EXPECT_EQ(what.find("SECRET-CONTENT"), std::string::npos) << "contents leaked: " << what;
    EXPECT_EQ(what.find(id), std::string::npos) << "the full id leaked: " << what;
  }
  EXPECT_EQ(raw({"HGET", key, "ok"}).str, "\"fine\"") << "nothing else changed";
}

TEST_F(RedisPoolStoreTest, HashWithoutMetadataIsADecodeError) {
  RedisPoolStoreOptions o = options();
  RedisPoolStore store(o);
  raw({"HSET", o.key_namespace + ":nometa", "a", "1"});
  EXPECT_THROW(store.load("nometa"), DecodeError);

  o.expiry.absolute_lifetime = 10min;
  RedisPoolStore with_lifetime(o);
  EXPECT_THROW(with_lifetime.load("nometa"), DecodeError);
  EXPECT_THROW(with_lifetime.save("nometa", update({{"b", 2}})), DecodeError);
}

TEST_F(RedisPoolStoreTest, WrongRedisTypeIsATypedServerErrorAndChangesNothing) {
  RedisPoolStoreOptions o = options();
  RedisPoolStore store(o);
  const std::string key = o.key_namespace + ":str";
  raw({"SET", key, "a plain string"});
  auto expect_wrongtype = [](auto&& f) {
    try {
      f();
      ADD_FAILURE() << "no error";
    } catch (const ServerError& e) {
      EXPECT_EQ(e.prefix(), "WRONGTYPE");
    }
  };
  expect_wrongtype([&] { store.load("str"); });
  expect_wrongtype([&] { store.save("str", update({{"a", 1}})); });
  expect_wrongtype([&] { store.increment("str", "n", 1, false); });
  EXPECT_EQ(raw({"GET", key}).str, "a plain string");
}

TEST_F(RedisPoolStoreTest, IncrementOfANonIntegerFieldIsInvalid) {
  RedisPoolStore store(options());
  store.save("inc", create({{"name", "ann"}}));
  EXPECT_THROW(store.increment("inc", "name", 1, false), SessionStateError);
  store.save("inc", update({{"n", std::numeric_limits<long long>::max()}}));
  EXPECT_THROW(store.increment("inc", "n", 1, false), SessionStateError);
}

TEST_F(RedisPoolStoreTest, LoadAndSaveAreOneRoundTripEach) {
  RedisPoolStore store(options());
  store.save("rt", create({{"a", 1}}));
  store.increment("rt", "b", 1, false);
  store.load("rt");  // scripts cached, connection open

  auto before = store.round_trips();
  long long hgetall = command_calls("hgetall"), pexpire = command_calls("pexpire"), evalsha = command_calls("evalsha");
  ASSERT_TRUE(store.load("rt"));
  EXPECT_EQ(store.round_trips() - before, 1u);
  EXPECT_EQ(command_calls("hgetall") - hgetall, 1);
  EXPECT_EQ(command_calls("pexpire") - pexpire, 1);

  before = store.round_trips();
  EXPECT_EQ(store.save("rt", update({{"b", 2}}, {"a"})), SaveResult::saved);
  EXPECT_EQ(store.round_trips() - before, 1u);
  EXPECT_EQ(command_calls("evalsha") - evalsha, 1);

  before = store.round_trips();
  EXPECT_EQ(*store.increment("rt", "b", 5, false), 7);  // b: 1 (warm-up), then 2, then +5
  EXPECT_TRUE(store.touch("rt"));
  EXPECT_TRUE(store.exists("rt"));
  EXPECT_EQ(store.round_trips() - before, 3u);
}

TEST_F(RedisPoolStoreTest, EmptyScriptCacheFallsBackToEval) {
  RedisPoolStore store(options());
  store.save("ns", create({{"a", 1}}));
  raw({"SCRIPT", "FLUSH"});  // what a restart or failover leaves behind
  auto before = store.round_trips();
  EXPECT_EQ(store.save("ns", update({{"a", 2}})), SaveResult::saved);
  EXPECT_EQ(store.round_trips() - before, 2u) << "EVALSHA, NOSCRIPT, then EVAL";
  before = store.round_trips();
  EXPECT_EQ(store.save("ns", update({{"a", 3}})), SaveResult::saved);
  EXPECT_EQ(store.round_trips() - before, 1u) << "EVAL loaded the cache again";
  EXPECT_EQ(*store.increment("ns", "a", 1, false), 4) << "each script recovers on its own";
}

TEST_F(RedisPoolStoreTest, ClearAndCountTouchOnlyTheirNamespace) {
  RedisPoolStoreOptions o = options();
  o.key_namespace = "glob*?[x]-^\\ns";
  RedisPoolStore store(o);
  for (int i = 0; i < 50; ++i) store.save("id" + std::to_string(i), create({{"i", i}}));
  // Keys a naive glob would match, and ordinary neighbours.
  const std::vector<std::string> others = {"globAB[x]-^\\ns:1", "glob*?x-^\\ns:2", "glob*?[x]-^\\nsX:3",
                                           "glob*?[x]-^\\ns", "other:1"};
  for (const auto& k : others) raw({"SET", k, "keep"});
  EXPECT_EQ(store.count(), 50u);
  auto ids = store.ids();
  EXPECT_EQ(ids.size(), 50u);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), "id7"), 1);
  EXPECT_EQ(store.clear(), 50u);
  EXPECT_EQ(store.count(), 0u);
  for (const auto& k : others) EXPECT_EQ(raw({"GET", k}).str, "keep") << k;
}

TEST_F(RedisPoolStoreTest, SaveOverTheValueLimitWritesNothing) {
  RedisPoolStoreOptions o = options();
  o.max_value_bytes = 100;
  RedisPoolStore store(o);
  store.save("big", create({{"a", "small"}}));
  EXPECT_THROW(store.save("big", update({{"b", "fits"}, {"c", std::string(200, 'x')}})), ValueTooLargeError);
  auto loaded = store.load("big");
  EXPECT_FALSE(loaded->contains("b")) << "the whole save is refused";
  EXPECT_THROW(store.save("new", create({{"c", std::string(200, 'x')}})), ValueTooLargeError);
  EXPECT_FALSE(store.exists("new"));
}

TEST_F(RedisPoolStoreTest, AValueTheCodecCannotEncodeIsATypedErrorAndWritesNothing) {
  RedisPoolStore store(options());
  store.save("enc", create({{"a", 1}}));
  // nlohmann's dump() refuses invalid UTF-8 with its own exception type.
  EXPECT_THROW(store.save("enc", update({{"b", "ok"}, {"bad", std::string("\xff\xfe")}})), InvalidArgumentError);
  EXPECT_FALSE(store.load("enc")->contains("b"));
}

TEST_F(RedisPoolStoreTest, OptionsAreValidated) {
  auto expect_invalid = [&](auto mutate) {
    RedisPoolStoreOptions o = options();
    mutate(o);
    EXPECT_THROW(RedisPoolStore{o}, InvalidOptionsError);
  };
  expect_invalid([](auto& o) { o.key_namespace = ""; });
  expect_invalid([](auto& o) { o.key_namespace = "has space"; });
  expect_invalid([](auto& o) { o.key_namespace = std::string(300, 'n'); });
  expect_invalid([](auto& o) { o.url = "http://nope"; });
  expect_invalid([](auto& o) { o.expiry.idle_timeout = 0ms; });
  expect_invalid([](auto& o) { o.expiry.absolute_lifetime = -1ms; });
  expect_invalid([](auto& o) { o.codec.serialize = nullptr; });
  expect_invalid([](auto& o) { o.max_value_bytes = 0; });
  expect_invalid([](auto& o) { o.pool.max_open = 0; });
}

TEST_F(RedisPoolStoreTest, StoresShareAnInjectedPool) {
  auto pool = make_connection_pool(redis::parse_url(server_->url()), {.max_open = 2});
  RedisPoolStoreOptions a = options();
  a.shared_pool = pool;
  RedisPoolStoreOptions b = options();
  b.shared_pool = pool;
  RedisPoolStore first(a), second(b);
  first.save("x", create({{"who", "first"}}));
  second.save("x", create({{"who", "second"}}));
  EXPECT_EQ((*first.load("x"))["who"], "first");
  EXPECT_EQ((*second.load("x"))["who"], "second");
  EXPECT_EQ(pool->stats().open, 1u) << "one connection served both stores";
  EXPECT_EQ(&first.pool(), &second.pool());
}

// Pool over real connections (the pool issue's integration test).
TEST(RedisPoolStoreRestart, PoolHandsOutWorkingConnectionsAfterRestart) {
  RedisServer server;
  RedisPoolStoreOptions o;
  o.url = server.url();
  o.pool.validate_after = 50ms;  // idle longer than this: PING before use
  RedisPoolStore store(o);
  store.save("r", create({{"a", 1}}));
  server.kill();
  server.start();
  std::this_thread::sleep_for(100ms);
  // The pooled connection is dead; validation replaces it transparently.
  EXPECT_FALSE(store.exists("r"));  // the restart lost the data (no persistence)
  EXPECT_GE(store.pool().stats().closed_broken, 1u);
}

TEST(RedisPoolStoreRestart, IdempotentOperationsRetryOnceOnAStaleConnection) {
  RedisServer server;
  RedisPoolStoreOptions o;
  o.url = server.url();
  o.pool.validate_after = 1h;  // no PING: the first use finds the stale socket
  RedisPoolStore store(o);
  ASSERT_EQ(store.save("r", create({{"a", 1}})), SaveResult::saved);
  server.kill();
  server.start();
  EXPECT_EQ(store.save("r", create({{"a", 2}})), SaveResult::saved) << "retried on a fresh connection";
  EXPECT_EQ((*store.load("r"))["a"], 2);
}

TEST(RedisPoolStoreRestart, IncrementIsNeverRetried) {
  RedisServer server;
  RedisPoolStoreOptions o;
  o.url = server.url();
  o.pool.validate_after = 1h;
  RedisPoolStore store(o);
  ASSERT_EQ(*store.increment("r", "n", 1, true), 1);
  server.kill();
  server.start();
  EXPECT_THROW(store.increment("r", "n", 1, true), IoError) << "a retry could count twice";
  EXPECT_EQ(*store.increment("r", "n", 1, true), 1) << "the next call uses a fresh connection";
}

TEST(RedisPoolStoreDown, ServerDownIsATypedError) {
  RedisPoolStoreOptions o;
  o.connection.port = test::free_port();
  RedisPoolStore store(o);
  EXPECT_THROW(store.load("x"), ConnectError);
  EXPECT_THROW(store.save("x", create({{"a", 1}})), ConnectError);
}

}  // namespace
}  // namespace redis_session

namespace redis_session {
namespace {

// clear() took an error reply to its UNLINK for a protocol error (a broken
// server) instead of the server's typed refusal.
TEST(RedisPoolStoreAcl, RefusedUnlinkInClearIsAServerError) {
  test::RedisServer server;
  server.command({"ACL", "SETUSER", "nounlink", "on", ">pw", "~*", "+@all", "-unlink"});
  RedisPoolStoreOptions options;
  options.url = "redis://nounlink:pw@127.0.0.1:" + std::to_string(server.port());
  options.key_namespace = "acl";
  RedisPoolStore store(options);
  ASSERT_EQ(store.save("a1", {SessionChanges::Mode::create, {{"k", 1}}, {}}), SaveResult::saved);
  try {
    store.clear();
    FAIL() << "clear() succeeded without UNLINK";
  } catch (const ServerError& e) {
    EXPECT_EQ(e.prefix(), "NOPERM") << e.what();
  }
  EXPECT_TRUE(store.exists("a1"));
}

}  // namespace
}  // namespace redis_session
