// Scenario 5 of the reliability suite: bad data in Redis. Corrupt bytes in a
// field, every wrong Redis type at a session key, a hash without the store's
// metadata ("\0c", the creation time) or with a bad one, values nested deeply
// enough to overflow a recursive decoder, values over max_value_bytes, field
// names starting with NUL. Every store operation runs against each, with and
// without an absolute lifetime (which switches load and touch to scripts):
// the outcome is asserted exactly (the precise exception type, or the
// result), the process lives, the store keeps working, and no other key in
// Redis changes (every key's type, DUMP bytes and PEXPIRETIME, before and
// after).
//
// What exists elsewhere and is not repeated here: corrupt JSON naming the
// field, load/save/increment of a string key, load of a hash without
// metadata (tests/integration/redis_pool_store_test.cpp); invalid ids and
// field names for every operation, values over the limit
// (tests/integration/store_conformance_test.cpp).

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <initializer_list>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <typeindex>
#include <typeinfo>
#include <vector>

#include "redis_session/error.hpp"
#include "redis_session/redis_pool_store.hpp"
#include "redis_session/session_manager.hpp"
#include "reliability/redis_snapshot.hpp"
#include "support/messages.hpp"
#include "support/shared_server.hpp"

namespace redis_session {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using test::RedisServer;

// ---------------------------------------------------------------- the table

enum class Op { load, save_update, save_create, increment, increment_create, touch, exists, destroy, regenerate };

const char* name_of(Op op) {
  switch (op) {
    case Op::load: return "load";
    case Op::save_update: return "save(update)";
    case Op::save_create: return "save(create)";
    case Op::increment: return "increment";
    case Op::increment_create: return "increment(create)";
    case Op::touch: return "touch";
    case Op::exists: return "exists";
    case Op::destroy: return "destroy";
    case Op::regenerate: return "regenerate";
  }
  return "?";
}

const Op all_ops[] = {Op::load,  Op::save_update, Op::save_create, Op::increment, Op::increment_create,
                      Op::touch, Op::exists,      Op::destroy,     Op::regenerate};

// What one operation did: the exact type of what it threw (and a
// ServerError's prefix), or its result as text.
struct Outcome {
  std::string error;   // "DecodeError", "ServerError WRONGTYPE", ...; empty: no exception
  std::string result;  // "absent", "fields", "saved", "gone", "exists", "moved", "true", "false", a number
  std::string message; // what() of the exception
  std::string text() const { return error.empty() ? "returns " + result : "throws " + error; }
};

std::string type_name(const Error& e) {
  // The exact dynamic type, not a base: a ConnectionError where a
  // DecodeError belongs would be a different contract.
  static const std::map<std::type_index, std::string> names = {
      {typeid(InvalidOptionsError), "InvalidOptionsError"},
      {typeid(InvalidArgumentError), "InvalidArgumentError"},
      {typeid(SessionStateError), "SessionStateError"},
      {typeid(PoolTimeoutError), "PoolTimeoutError"},
      {typeid(PoolClosedError), "PoolClosedError"},
      {typeid(ConnectError), "ConnectError"},
      {typeid(AuthError), "AuthError"},
      {typeid(TimeoutError), "TimeoutError"},
      {typeid(IoError), "IoError"},
      {typeid(ProtocolError), "ProtocolError"},
      {typeid(ServerError), "ServerError"},
      {typeid(DecodeError), "DecodeError"},
      {typeid(ValueTooLargeError), "ValueTooLargeError"},
  };
  auto it = names.find(typeid(e));
  std::string name = it == names.end() ? std::string("Error(") + typeid(e).name() + ")" : it->second;
  if (const auto* server = dynamic_cast<const ServerError*>(&e)) name += " " + server->prefix();
  return name;
}

// The field every field-taking operation uses: it holds the corrupt bytes
// where a state has them.
constexpr const char* field = "broken";

Outcome run(SessionStore& store, Op op, const std::string& id, const std::string& new_id) {
  Outcome o;
  try {
    switch (op) {
      case Op::load: {
        auto fields = store.load(id);
        o.result = fields ? "fields" : "absent";
        break;
      }
      case Op::save_update:
      case Op::save_create: {
        SessionChanges changes;
        changes.mode = op == Op::save_create ? SessionChanges::Mode::create : SessionChanges::Mode::update;
        changes.set = {{"written", "by the test"}};
        SaveResult r = store.save(id, changes);
        o.result = r == SaveResult::saved ? "saved" : r == SaveResult::gone ? "gone" : "exists";
        break;
      }
      case Op::increment:
      case Op::increment_create: {
        auto v = store.increment(id, field, 1, op == Op::increment_create);
        o.result = v ? std::to_string(*v) : "gone";
        break;
      }
      case Op::touch: o.result = store.touch(id) ? "true" : "false"; break;
      case Op::exists: o.result = store.exists(id) ? "true" : "false"; break;
      case Op::destroy: o.result = store.destroy(id) ? "true" : "false"; break;
      case Op::regenerate: {
        RegenerateResult r = store.regenerate(id, new_id);
        o.result = r == RegenerateResult::moved ? "moved" : r == RegenerateResult::gone ? "gone" : "exists";
        break;
      }
    }
  } catch (const Error& e) {
    o.error = type_name(e);
    o.message = e.what();
  }
  return o;
}

// One kind of bad data: how to plant it at a key, and what each operation
// must do with it (by expiry mode: idle only, or idle + absolute lifetime).
struct BadState {
  std::string name;
  std::function<void(redis::Connection&, const std::string& key)> plant;
  // The outcome of every op, as Outcome::text().
  std::map<Op, std::string> idle_only;
  std::map<Op, std::string> with_absolute;
};

std::string now_ms() {
  return std::to_string(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

// What every operation does to a live session whose field `broken` is
// absent; each table below is this one with what its bad data changes.
std::map<Op, std::string> live_outcomes() {
  return {{Op::load, "returns fields"}, {Op::save_update, "returns saved"},  {Op::save_create, "returns exists"},
          {Op::increment, "returns 1"}, {Op::increment_create, "returns 1"}, {Op::touch, "returns true"},
          {Op::exists, "returns true"}, {Op::destroy, "returns true"},       {Op::regenerate, "returns moved"}};
}

// `table` with each of `ops` changed to `outcome`.
std::map<Op, std::string> but(std::map<Op, std::string> table, std::initializer_list<Op> ops, const char* outcome) {
  for (Op op : ops) table[op] = outcome;
  return table;
}

// A hash whose field `broken` holds bytes no codec decodes; metadata
// present, so only load (which decodes) and increment of that field (not an
// integer) fail.
std::map<Op, std::string> corrupt_outcomes() {
  return but(but(live_outcomes(), {Op::load}, "throws DecodeError"), {Op::increment, Op::increment_create},
             "throws SessionStateError");
}

// A key of another Redis type: whatever must read or write the hash fails
// WRONGTYPE (regenerate too: it checks the type before its RENAME); what only
// looks at the key (EXISTS, UNLINK, PEXPIRE) works on it, as on any key in
// the namespace.
std::map<Op, std::string> wrong_type_idle() {
  return but(live_outcomes(), {Op::load, Op::save_update, Op::increment, Op::increment_create, Op::regenerate},
             "throws ServerError WRONGTYPE");
}
std::map<Op, std::string> wrong_type_absolute() {
  // The script reads the creation time.
  return but(wrong_type_idle(), {Op::touch}, "throws ServerError WRONGTYPE");
}

// A hash without "\0c" (or with one that is not a number): idle-only
// operations never read the creation time, so only load notices; with an
// absolute lifetime every script that slides the expiry fails RSMETA.
std::map<Op, std::string> no_metadata_idle() {
  return but(live_outcomes(), {Op::load}, "throws DecodeError");
}
std::map<Op, std::string> no_metadata_absolute() {
  return but(no_metadata_idle(), {Op::save_update, Op::increment, Op::increment_create, Op::touch, Op::regenerate},
             "throws DecodeError");
}

void plant_hash(redis::Connection& c, const std::string& key, std::vector<std::string> field_values) {
  std::vector<std::string> argv = {"HSET", key};
  argv.insert(argv.end(), field_values.begin(), field_values.end());
  redis::Request r;
  r.push(argv);
  c.execute(r);
}

const std::string meta("\0c", 2);

std::vector<BadState> bad_states() {
  std::vector<BadState> states;
  auto corrupt = [&](std::string name, std::string bytes) {
    states.push_back({std::move(name),
                      [bytes](redis::Connection& c, const std::string& key) {
                        plant_hash(c, key, {meta, now_ms(), "ok", "\"fine\"", field, bytes});
                      },
                      corrupt_outcomes(), corrupt_outcomes()});
  };
  corrupt("unterminated JSON", "{\"unterminated");
  corrupt("binary garbage", std::string("\xff\x00\xfe\x80\r\n", 6));
  corrupt("empty value", "");
  corrupt("integer with a leading zero", "007");
  corrupt("a bare word", "undefined");
  corrupt("NaN text", "NaN");
  corrupt("JSON nested 100,000 deep", std::string(100000, '[') + std::string(100000, ']'));

  auto wrong_type = [&](std::string name, std::vector<std::string> argv_after_key) {
    states.push_back({std::move(name),
                      [argv_after_key](redis::Connection& c, const std::string& key) {
                        std::vector<std::string> argv = {argv_after_key.front(), key};
                        argv.insert(argv.end(), argv_after_key.begin() + 1, argv_after_key.end());
                        redis::Request r;
                        r.push(argv);
                        c.execute(r);
                      },
                      wrong_type_idle(), wrong_type_absolute()});
  };
  wrong_type("string", {"SET", "a plain string"});
  wrong_type("list", {"RPUSH", "a", "b"});
  wrong_type("set", {"SADD", "a", "b"});
  wrong_type("zset", {"ZADD", "1", "a"});
  wrong_type("stream", {"XADD", "*", "f", "v"});

  states.push_back({"hash without metadata",
                    [](redis::Connection& c, const std::string& key) {
                      plant_hash(c, key, {"user", "\"ann\"", "n", "1"});
                    },
                    no_metadata_idle(), no_metadata_absolute()});
  states.push_back({"metadata that is not a number",
                    [](redis::Connection& c, const std::string& key) {
                      plant_hash(c, key, {meta, "yesterday", "user", "\"ann\""});
                    },
                    // Idle-only never reads the creation time: a normal session.
                    but(no_metadata_idle(), {Op::load}, "returns fields"),
                    but(no_metadata_absolute(), {Op::load}, "throws DecodeError")});
  return states;
}

// ---------------------------------------------------------------- fixture

class BadDataTest : public test::SharedRedisServer<false> {
 protected:
  void SetUp() override {
    static std::atomic<int> n{0};
    ns_ = "bad" + std::to_string(n++);
    raw_ = std::make_unique<redis::Connection>(server_->options());
    plant_bystanders();
  }

  RedisPoolStoreOptions options(bool absolute) const {
    RedisPoolStoreOptions o;
    o.url = server_->url();
    o.key_namespace = ns_;
    if (absolute) o.expiry.absolute_lifetime = 1h;
    return o;
  }

  // Keys the operations must never touch: a live session next door, another
  // namespace's session with the same id as the target, a key sharing the
  // prefix without the colon, a nested namespace, and keys of every type,
  // with and without expiry.
  void plant_bystanders() {
    RedisPoolStoreOptions o = options(false);
    RedisPoolStore mine(o);
    ASSERT_EQ(mine.save("neighbour", {SessionChanges::Mode::create, {{"user", "bob"}, {"n", 5}}, {}}),
              SaveResult::saved);
    o.key_namespace = ns_ + "other";
    RedisPoolStore other(o);
    ASSERT_EQ(other.save("target", {SessionChanges::Mode::create, {{"user", "eve"}}, {}}), SaveResult::saved);
    raw_->command({"SET", ns_ + "X:target", "prefix without the colon"});
    raw_->command({"SET", ns_, "the bare namespace"});
    raw_->command({"HSET", ns_ + ":target:sub", "nested", "namespace"});
    raw_->command({"RPUSH", ns_ + "-list", "a", "b"});
    raw_->command({"PEXPIRE", ns_ + "-list", "3600000"});
    raw_->command({"SADD", ns_ + "-set", "a"});
    raw_->command({"ZADD", ns_ + "-zset", "1", "a"});
    raw_->command({"XADD", ns_ + "-stream", "*", "f", "v"});
  }

  std::string key(const std::string& id) const { return ns_ + ":" + id; }

  // Plants `state` at the target (with a 1 h TTL, like a live session), runs
  // `op`, and checks that nothing but the target and the regenerate
  // destination changed. Returns the outcome and the target's before/after.
  struct Trial {
    Outcome outcome;
    std::optional<test::KeyState> target_before, target_after, new_after;
  };
  Trial trial(SessionStore& store, const BadState& state, Op op) {
    const std::string target = key("target"), moved_to = key("target2");
    raw_->command({"DEL", target, moved_to});
    state.plant(*raw_, target);
    raw_->command({"PEXPIRE", target, "3600000"});
    test::Snapshot before = test::snapshot(*raw_);
    Trial t;
    t.outcome = run(store, op, "target", "target2");
    test::Snapshot after = test::snapshot(*raw_);
    EXPECT_EQ(test::diff(before, after, {target, moved_to}), "")
        << state.name << ", " << name_of(op) << ": other keys changed";
    if (before.count(target)) t.target_before = before.at(target);
    if (after.count(target)) t.target_after = after.at(target);
    if (after.count(moved_to)) t.new_after = after.at(moved_to);
    // The store still works after whatever happened.
    EXPECT_TRUE(store.exists("neighbour"));
    auto neighbour = store.load("neighbour");
    EXPECT_TRUE(neighbour && (*neighbour)["user"] == "bob");
    return t;
  }

  // The target's data (type and DUMP bytes; not its expiry) is as it was,
  // and nothing was created at the regenerate destination.
  static bool same_content(const Trial& t) {
    if (t.new_after) return false;
    if (t.target_before.has_value() != t.target_after.has_value()) return false;
    return !t.target_before ||
           (t.target_before->type == t.target_after->type && t.target_before->dump == t.target_after->dump);
  }

  std::string ns_;
  std::unique_ptr<redis::Connection> raw_;
};

// ---------------------------------------------------------------- every state x every op

TEST_F(BadDataTest, EveryOperationOnEveryKindOfBadDataHasItsExactOutcome) {
  int trials = 0, errors = 0;
  for (bool absolute : {false, true}) {
    RedisPoolStore store(options(absolute));
    for (const BadState& state : bad_states()) {
      for (Op op : all_ops) {
        SCOPED_TRACE(state.name + ", " + name_of(op) + (absolute ? ", absolute lifetime" : ", idle only"));
        const auto& table = absolute ? state.with_absolute : state.idle_only;
        Trial t = trial(store, state, op);
        ++trials;
        EXPECT_EQ(t.outcome.text(), table.at(op)) << t.outcome.message;
        if (t.outcome.error.empty()) continue;
        ++errors;
        // A failed operation writes nothing to the session's data (the
        // scripts check type and creation time before their first write).
        // Its expiry may slide: load slides it in the same round trip that
        // fetches the bytes, before the client finds them undecodable.
        EXPECT_TRUE(same_content(t)) << "a failed operation changed the session's data";
        // Messages never carry a whole id (the target's is "target", too
        // short to be redacted meaningfully, so check the key form).
        EXPECT_EQ(t.outcome.message.find(key("target")), std::string::npos) << t.outcome.message;
      }
    }
  }
  std::cout << "[ figures ] bad data: " << trials << " operations on " << bad_states().size()
            << " kinds of bad data x 2 expiry modes, " << errors << " typed errors, 0 crashes\n";
}

// ---------------------------------------------------------------- codecs

// Bytes that each shipped codec must refuse with a DecodeError, never a
// crash: truncated, garbage, and nesting deep enough to overflow the stack
// of a recursive decoder (nlohmann's CBOR and MessagePack readers recurse
// once per level; 200,000 levels are ~200 KB in Redis).
TEST_F(BadDataTest, EachCodecRefusesCorruptAndDeeplyNestedBytesWithADecodeError) {
  const std::size_t deep = 200000;
  struct Case {
    Codec codec;
    std::vector<std::pair<std::string, std::string>> bad;  // name, bytes
  };
  std::string cbor_deep(deep, '\x81');  // array(1) of array(1) of ...
  cbor_deep.push_back('\xf6');
  std::string msgpack_deep(deep, '\x91');
  msgpack_deep.push_back('\xc0');
  std::string json_deep = std::string(deep, '[') + std::string(deep, ']');
  const std::vector<Case> cases = {
      {json_codec(),
       {{"truncated", "{\"a\": [1, 2"}, {"garbage", "\x01\x02"}, {"nested 200,000 deep", json_deep}}},
      {cbor_codec(),
       {{"truncated map", "\xa2\x61"},
        {"garbage", "\xff\xff"},
        {"trailing bytes", "\xf6\xf6"},
        {"nested 200,000 deep", cbor_deep}}},
      {msgpack_codec(),
       {{"truncated array", "\x93\x01"},
        {"reserved byte", "\xc1"},
        {"trailing bytes", "\xc0\xc0"},
        {"nested 200,000 deep", msgpack_deep}}},
  };
  for (const Case& c : cases) {
    RedisPoolStoreOptions o = options(false);
    o.codec = c.codec;
    RedisPoolStore store(o);
    for (const auto& [name, bytes] : c.bad) {
      SCOPED_TRACE(c.codec.name + ": " + name);
      raw_->command({"DEL", key("coded")});
      plant_hash(*raw_, key("coded"), {meta, now_ms(), "value", bytes});
      test::Snapshot before = test::snapshot(*raw_);
      Outcome out = run(store, Op::load, "coded", "");
      EXPECT_EQ(out.text(), "throws DecodeError") << out.message;
      EXPECT_EQ(test::diff(before, test::snapshot(*raw_), {key("coded")}), "");
      EXPECT_TRUE(store.exists("neighbour"));
    }
  }
  // The bound is on nesting, not on size: a value nested up to the limit
  // still round-trips through every codec.
  json nested = json::array();
  for (std::size_t i = 1; i < max_nesting_depth; ++i) nested = json::array({std::move(nested)});
  for (const Codec& codec : {json_codec(), cbor_codec(), msgpack_codec()}) {
    RedisPoolStoreOptions o = options(false);
    o.codec = codec;
    RedisPoolStore store(o);
    ASSERT_EQ(store.save(codec.name, {SessionChanges::Mode::create, {{"v", nested}}, {}}), SaveResult::saved);
    auto loaded = store.load(codec.name);
    ASSERT_TRUE(loaded) << codec.name;
    EXPECT_EQ((*loaded)["v"], nested) << codec.name;
  }
}

// Through the manager, as a web request sees it: the typed error reaches
// the caller and the process goes on serving other sessions.
TEST_F(BadDataTest, TheManagerPassesTheTypedErrorOnAndServesOtherSessions) {
  auto store = std::make_shared<RedisPoolStore>(options(false));
  SessionManager manager(store);
  Session good = manager.open("");
  good.set("user", "ann");
  manager.commit(good);
  Session bad = manager.open("");
  bad.set("user", "mallory");
  manager.commit(bad);
  raw_->command({"HSET", key(bad.id()), "user", "\x80not json"});
  // The first read loads (lazily): that is where the error surfaces.
  EXPECT_THROW((void)manager.open("sid=" + bad.id()).fields(), DecodeError);
  raw_->command({"DEL", key(bad.id())});
  raw_->command({"SET", key(bad.id()), "x"});
  try {
    (void)manager.open("sid=" + bad.id()).fields();
    ADD_FAILURE() << "a string at a session key loaded";
  } catch (const ServerError& e) {
    EXPECT_EQ(e.prefix(), "WRONGTYPE");
    EXPECT_EQ(std::string(e.what()).find(bad.id()), std::string::npos) << "the whole id leaked: " << e.what();
  }
  Session again = manager.open("sid=" + good.id());
  EXPECT_EQ(again.get_or("user", ""), "ann");
}

// ---------------------------------------------------------------- NUL field names

TEST_F(BadDataTest, FieldNamesStartingWithNulNeverReachRedisAndPlantedOnesStayHidden) {
  RedisPoolStore store(options(true));
  ASSERT_EQ(store.save("live", {SessionChanges::Mode::create, {{"user", "ann"}}, {}}), SaveResult::saved);
  const std::vector<std::string> names = {meta, std::string("\0", 1), std::string("\0user", 5)};
  test::Snapshot before = test::snapshot(*raw_);
  const auto trips = store.round_trips();
  for (const std::string& name : names) {
    SCOPED_TRACE(test::printable(name));
    // The creation time above all: overwriting it would move the absolute deadline.
    EXPECT_THROW(store.save("live", {SessionChanges::Mode::update, {{name, 0}}, {}}), InvalidArgumentError);
    EXPECT_THROW(store.save("live", {SessionChanges::Mode::update, {{"ok", 1}}, {name}}), InvalidArgumentError);
    EXPECT_THROW(store.save("fresh", {SessionChanges::Mode::create, {{name, 1}}, {}}), InvalidArgumentError);
    EXPECT_THROW(store.increment("live", name, -1000000, false), InvalidArgumentError);
    EXPECT_THROW(store.increment("fresh", name, 1, true), InvalidArgumentError);
  }
  EXPECT_EQ(store.round_trips(), trips) << "refused before any I/O";
  EXPECT_EQ(test::diff(before, test::snapshot(*raw_)), "");

  // A NUL-led field planted by hand is store metadata to the store: never
  // returned as a session field, never counted as the user's data.
  raw_->command({"HSET", key("live"), std::string("\0planted", 8), "\"x\""});
  auto loaded = store.load("live");
  ASSERT_TRUE(loaded);
  EXPECT_EQ(*loaded, (Fields{{"user", "ann"}}));
}

// ---------------------------------------------------------------- size limit

TEST_F(BadDataTest, TheValueLimitIsExactAndARefusedSaveChangesNothingNotEvenTheExpiry) {
  RedisPoolStoreOptions o = options(false);
  o.max_value_bytes = 1024;
  RedisPoolStore store(o);
  ASSERT_EQ(store.save("s", {SessionChanges::Mode::create, {{"keep", "me"}, {"n", 1}}, {}}), SaveResult::saved);
  raw_->command({"PEXPIRE", key("s"), "5000000"});  // not the store's 24 h: a slide would show
  test::Snapshot before = test::snapshot(*raw_);
  const auto trips = store.round_trips();
  // JSON text of a string is the string in quotes: 1022 characters are 1024 bytes.
  const std::string at_limit(1022, 'a'), over_limit(1023, 'a');
  EXPECT_THROW(store.save("s", {SessionChanges::Mode::update, {{"small", 1}, {"big", over_limit}}, {"keep"}}),
               ValueTooLargeError);
  EXPECT_THROW(store.save("new", {SessionChanges::Mode::create, {{"big", over_limit}}, {}}), ValueTooLargeError);
  EXPECT_EQ(store.round_trips(), trips) << "refused before any I/O";
  EXPECT_EQ(test::diff(before, test::snapshot(*raw_)), "") << "nothing written, no expiry slid";

  EXPECT_EQ(store.save("s", {SessionChanges::Mode::update, {{"big", at_limit}}, {}}), SaveResult::saved);
  EXPECT_EQ(*store.increment("s", "n", 1, false), 2) << "counters are not values the limit applies to";

  // The limit guards writes. A larger value placed in Redis by someone else
  // still loads (the reply limit, max_reply_bytes, bounds what is read).
  raw_->command({"HSET", key("s"), "planted", "\"" + std::string(100000, 'p') + "\""});
  auto loaded = store.load("s");
  ASSERT_TRUE(loaded);
  EXPECT_EQ((*loaded)["planted"].get<std::string>().size(), 100000u);

  // And through the manager, the error names the field, not the value.
  auto shared = std::make_shared<RedisPoolStore>(o);
  SessionManager manager(shared);
  Session s = manager.open("");
  s.set("essay", "SECRET-" + std::string(2000, 's'));
  const std::string what = test::message_of<ValueTooLargeError>([&] { manager.commit(s); });
  EXPECT_NE(what, test::no_exception) << "an oversized value was committed";
  EXPECT_NE(what.find("essay"), std::string::npos) << what;
  EXPECT_EQ(what.find("SECRET"), std::string::npos) << what;
  EXPECT_FALSE(shared->exists(s.id()));
}

// ---------------------------------------------------------------- reply limits

// A session hash too big to read (more elements than a reply may hold) is a
// ProtocolError: the connection that saw it is closed, the pool replaces it.
TEST_F(BadDataTest, AHashTooBigToReadIsAProtocolErrorAndThePoolRecovers) {
  RedisPoolStoreOptions o = options(false);
  o.connection.max_reply_bytes = 64 * 1024;  // small, so a modest hash exceeds it
  RedisPoolStore store(o);
  ASSERT_EQ(store.save("huge", {SessionChanges::Mode::create, {{"a", 1}}, {}}), SaveResult::saved);
  std::vector<std::string> argv = {"HSET", key("huge")};
  for (int i = 0; i < 5000; ++i) {
    argv.push_back("field" + std::to_string(i));
    argv.push_back("\"" + std::string(20, 'v') + "\"");
  }
  redis::Request r;
  r.push(argv);
  raw_->execute(r);
  test::Snapshot before = test::snapshot(*raw_);
  Outcome out = run(store, Op::load, "huge", "");
  EXPECT_EQ(out.text(), "throws ProtocolError") << out.message;
  EXPECT_EQ(test::diff(before, test::snapshot(*raw_), {key("huge")}), "");
  EXPECT_GE(store.pool().stats().closed_broken, 1u);
  EXPECT_TRUE(store.exists("neighbour")) << "a fresh connection serves the next call";
}

}  // namespace
}  // namespace redis_session
