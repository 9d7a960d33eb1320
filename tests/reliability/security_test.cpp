// Security checks of issue 7 that need a real server, the demo, or several
// layers together. What is proven elsewhere and not repeated here:
// - 1,000,000 ids distinct, alphabet and length, canonical encoding, bit
//   balance, concurrent generation: tests/unit/session_id_test.cpp
//   (SessionId.AMillionIdsAreDistinctAndWellFormed and the others).
// - Strict mode against a counting store: unknown and expired ids never
//   adopted, malformed ids never reach the store, duplicates distrusted,
//   overlong headers ignored: tests/unit/session_manager_test.cpp and
//   tests/unit/cookie_test.cpp.
// - Cookie attributes the manager builds (Path, Domain, Secure, HttpOnly,
//   SameSite, Max-Age, the clearing cookie): tests/unit/cookie_test.cpp.
// - TLS on redis::Connection: untrusted CA and wrong host name refused, the
//   opt-out, client certificates; AUTH and an ACL user with a key pattern;
//   passwords absent from auth errors: tests/integration/connection_test.cpp.
// - Passwords absent from URL parse errors: tests/unit/url_test.cpp.
// - clear()/count() with glob characters in the namespace:
//   tests/integration/redis_pool_store_test.cpp.

#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <typeinfo>
#include <string>
#include <unordered_set>
#include <vector>

#include "redis_session/error.hpp"
#include "redis_session/redis_pool_store.hpp"
#include "redis_session/session_id.hpp"
#include "redis_session/session_manager.hpp"
#include "reliability/demo_process.hpp"
#include "reliability/redis_snapshot.hpp"
#include "support/messages.hpp"
#include "support/redis_server.hpp"

#ifndef REDIS_SESSION_DEMO_PATH
#error "REDIS_SESSION_DEMO_PATH must name the demo_server executable"
#endif

namespace redis_session {
namespace {

using namespace std::chrono_literals;
using test::HttpResult;
using test::http_request;
using test::message_of;
using test::raw_http;
using test::RedisServer;
using test::set_cookie_value;

SessionChanges create(Fields set) { return {SessionChanges::Mode::create, std::move(set), {}}; }

// ---------------------------------------------------------------- ids

// A generator with state in user space (a seeded PRNG) repeats its
// sequence in both processes after fork(); getrandom() does not.
TEST(SecurityIds, AForkedChildNeverRepeatsItsParentsIds) {
  constexpr int n = 2000;
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  generate_session_id();  // any state would be initialised before the fork
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::string out;
    for (int i = 0; i < n; ++i) out += generate_session_id();
    ssize_t w = ::write(pipe_fds[1], out.data(), out.size());
    ::_exit(w == static_cast<ssize_t>(out.size()) ? 0 : 1);
  }
  ::close(pipe_fds[1]);
  std::unordered_set<std::string> parent;
  for (int i = 0; i < n; ++i) parent.insert(generate_session_id());
  std::string in;
  char buf[4096];
  ssize_t r;
  while ((r = ::read(pipe_fds[0], buf, sizeof buf)) > 0) in.append(buf, static_cast<std::size_t>(r));
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_EQ(in.size(), n * session_id_length);
  int shared = 0;
  for (std::size_t i = 0; i < in.size(); i += session_id_length) {
    std::string id = in.substr(i, session_id_length);
    EXPECT_TRUE(is_valid_session_id(id));
    shared += parent.count(id) ? 1 : 0;
  }
  EXPECT_EQ(shared, 0) << "the child repeated its parent's ids";
}

// ---------------------------------------------------------------- strict mode against Redis

// Fixation by a chosen id: the attacker sends an id of the right shape that
// it will later present; the server must never create a session under it.
TEST(SecurityStrictMode, AClientChosenIdIsNeverCreatedInRedis) {
  RedisServer server;
  RedisPoolStoreOptions o;
  o.url = server.url();
  auto store = std::make_shared<RedisPoolStore>(o);
  SessionManager manager(store);
  const std::string chosen = generate_session_id();
  for (int request = 0; request < 3; ++request) {
    Session s = manager.open("sid=" + chosen);
    EXPECT_TRUE(s.is_new());
    s.set("user", "victim");
    s.increment("visits");
    CommitResult r = manager.commit(s);
    ASSERT_TRUE(r.set_cookie);
    EXPECT_NE(set_cookie_value(*r.set_cookie), chosen);
    EXPECT_FALSE(store->exists(chosen)) << "the chosen id was adopted";
  }
  EXPECT_EQ(server.command({"EXISTS", "session:" + chosen}).integer, 0);
  EXPECT_EQ(store->count(), 3u) << "three new sessions, none under the chosen id";
}

// ---------------------------------------------------------------- the demo

class SecurityDemo : public ::testing::Test {
 protected:
  void start(std::vector<std::string> extra = {}) {
    redis_ = std::make_unique<RedisServer>();
    std::vector<std::string> args = {REDIS_SESSION_DEMO_PATH, "--listen", "127.0.0.1:0", "--redis", redis_->url(),
                                     "--threads", "2"};
    args.insert(args.end(), extra.begin(), extra.end());
    demo_ = std::make_unique<test::DemoProcess>(args);
  }
  void TearDown() override {
    if (demo_) {
      EXPECT_EQ(demo_->stop(), 0) << demo_->how_it_ended();
    }
  }
  HttpResult send(const std::string& method, const std::string& target, const std::string& sid = {}) {
    return raw_http(demo_->port(), http_request(method, target, sid.empty() ? "" : "Cookie: sid=" + sid + "\r\n"));
  }
  bool key_exists(const std::string& id) { return redis_->command({"EXISTS", "session:" + id}).integer == 1; }

  std::unique_ptr<RedisServer> redis_;
  std::unique_ptr<test::DemoProcess> demo_;
};

TEST_F(SecurityDemo, LoginRegeneratesTheIdKeepsTheDataAndKillsTheOldId) {
  start();
  HttpResult first = send("GET", "/count");
  ASSERT_EQ(first.status, 200);
  ASSERT_EQ(first.set_cookies.size(), 1u);
  const std::string before_login = set_cookie_value(first.set_cookies[0]);
  ASSERT_TRUE(key_exists(before_login));

  HttpResult login = send("POST", "/login?user=ann", before_login);
  ASSERT_EQ(login.status, 200) << login.body;
  ASSERT_EQ(login.set_cookies.size(), 1u) << "login must send the new id";
  const std::string after_login = set_cookie_value(login.set_cookies[0]);
  EXPECT_TRUE(is_valid_session_id(after_login));
  EXPECT_NE(after_login, before_login) << "session fixation: the id did not change at login";
  EXPECT_FALSE(key_exists(before_login)) << "the pre-login id must be dead";
  EXPECT_TRUE(key_exists(after_login));

  // Whoever knew the old id (a fixation attacker) gets a fresh, empty session.
  HttpResult stale = send("GET", "/session", before_login);
  EXPECT_EQ(stale.body, "{}");
  ASSERT_EQ(stale.set_cookies.size(), 0u) << "nothing stored, so no cookie";
  HttpResult mine = send("GET", "/session", after_login);
  EXPECT_EQ(mine.body, "{\"count\":1,\"user\":\"ann\"}") << "the data moved with the session";

  // Logging in again rotates again; logging out kills the session and clears the cookie.
  HttpResult again = send("POST", "/login?user=bob", after_login);
  ASSERT_EQ(again.set_cookies.size(), 1u);
  const std::string second = set_cookie_value(again.set_cookies[0]);
  EXPECT_NE(second, after_login);
  EXPECT_FALSE(key_exists(after_login));
  HttpResult out = send("POST", "/logout", second);
  ASSERT_EQ(out.set_cookies.size(), 1u);
  EXPECT_EQ(set_cookie_value(out.set_cookies[0]), "");
  EXPECT_NE(out.set_cookies[0].find("Max-Age=0"), std::string::npos) << out.set_cookies[0];
  EXPECT_FALSE(key_exists(second));
}

// What the browser receives from the demo: HttpOnly (page script cannot read
// the id), SameSite=Lax, Path=/, Secure only when asked (behind HTTPS), no
// caching of responses that set it.
TEST_F(SecurityDemo, CookieAttributesAsSent) {
  start();
  HttpResult r = send("GET", "/count");
  ASSERT_EQ(r.set_cookies.size(), 1u);
  const std::string id = set_cookie_value(r.set_cookies[0]);
  EXPECT_EQ(r.set_cookies[0], "sid=" + id + "; Path=/; HttpOnly; SameSite=Lax");
  EXPECT_NE(r.head.find("Cache-Control: no-store"), std::string::npos) << r.head;
  HttpResult out = send("POST", "/logout", id);
  ASSERT_EQ(out.set_cookies.size(), 1u);
  EXPECT_EQ(out.set_cookies[0], "sid=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
}

TEST_F(SecurityDemo, SecureCookiesWhenAsked) {
  start({"--secure-cookies"});
  HttpResult r = send("GET", "/count");
  ASSERT_EQ(r.set_cookies.size(), 1u);
  const std::string id = set_cookie_value(r.set_cookies[0]);
  EXPECT_EQ(r.set_cookies[0], "sid=" + id + "; Path=/; Secure; HttpOnly; SameSite=Lax");
}

// The password in --redis never reaches the demo's output or a response.
TEST_F(SecurityDemo, ThePasswordNeverReachesOutputOrResponses) {
  const std::string password = "pw-SECRET-7731";
  redis_ = std::make_unique<RedisServer>(test::RedisServerOptions{.args = {"--requirepass", "right-one"}});
  demo_ = std::make_unique<test::DemoProcess>(std::vector<std::string>{
      REDIS_SESSION_DEMO_PATH, "--listen", "127.0.0.1:0", "--redis",
      "redis://:" + password + "@127.0.0.1:" + std::to_string(redis_->port()), "--threads", "2"});
  EXPECT_EQ(demo_->output().find(password), std::string::npos) << demo_->output();
  for (const char* target : {"/healthz", "/count", "/session", "/metrics"}) {
    HttpResult r = send("GET", target);
    EXPECT_EQ(r.head.find(password) + r.body.find(password), 2 * std::string::npos) << target;
    // /healthz and /count need the store (refused: 503); /session without a
    // cookie and /metrics do not.
    const std::string t = target;
    EXPECT_EQ(r.status, t == "/healthz" || t == "/count" ? 503 : 200) << target << ": " << r.body;
  }
}

// ---------------------------------------------------------------- TLS at the store

class SecurityTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new RedisServer({.tls = true}); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static std::string url(const std::string& host) {
    return "rediss://" + host + ":" + std::to_string(server_->tls_port());
  }
  static RedisServer* server_;
};
RedisServer* SecurityTls::server_ = nullptr;

TEST_F(SecurityTls, VerificationIsOnByDefault) {
  const redis::ConnectionOptions defaults;
  EXPECT_TRUE(defaults.tls.verify_peer);
  const RedisPoolStoreOptions store_defaults;
  EXPECT_TRUE(store_defaults.connection.tls.verify_peer);
  // A rediss:// URL and nothing else: the system's trust store, which does
  // not hold the test CA, so the server's certificate is refused.
  RedisPoolStoreOptions o;
  o.url = url("localhost");
  o.connection.connect_timeout = 2s;
  RedisPoolStore store(o);
  std::string what = message_of([&] { store.exists("x"); });
  EXPECT_THROW(store.exists("x"), ConnectError) << what;
  EXPECT_EQ(store.pool().stats().open, 0u);
}

TEST_F(SecurityTls, TheStoreWorksWithTheRightCaAndRefusesAWrongNameOrAnUntrustedCa) {
  RedisPoolStoreOptions o;
  o.url = url("localhost");
  o.connection.tls.ca_file = test::TlsMaterial::get().ca_file;
  {
    RedisPoolStore store(o);
    EXPECT_EQ(store.save("tls", create({{"a", 1}})), SaveResult::saved);
    EXPECT_TRUE(store.load("tls"));
  }
  RedisPoolStoreOptions wrong_name = o;
  wrong_name.connection.tls.server_name = "not-this-server.example";
  EXPECT_THROW(RedisPoolStore(wrong_name).exists("tls"), ConnectError);
  RedisPoolStoreOptions untrusted = o;
  untrusted.connection.tls.ca_file = test::TlsMaterial::get().other_ca_file;
  EXPECT_THROW(RedisPoolStore(untrusted).exists("tls"), ConnectError);
}

// ---------------------------------------------------------------- ACL users

// The commands the store sends, directly and from its scripts: a user
// allowed only these, on ~session:*, runs every operation.
const std::vector<std::string> store_commands = {
    "+ping", "+client|setname", "+hgetall", "+pexpire", "+evalsha", "+eval", "+exists", "+unlink", "+scan",
    // from the Lua scripts (TYPE: the check before a script's first write)
    "+time", "+type", "+hset", "+hget", "+hdel", "+hincrby", "+rename", "+del"};

TEST(SecurityAcl, AUserLimitedToTheNamespaceAndTheStoreCommandsRunsEveryOperation) {
  RedisServer server;
  std::vector<std::string> acl = {"ACL", "SETUSER", "app", "on", ">app-pw-SECRET", "~session:*", "resetchannels",
                                  "-@all"};
  acl.insert(acl.end(), store_commands.begin(), store_commands.end());
  redis::Connection admin(server.options());
  redis::Request setuser;
  setuser.push(acl);
  ASSERT_FALSE(admin.execute(setuser)[0].is_error());
  admin.command({"SET", "other:keep", "x"});

  for (bool absolute : {false, true}) {
    RedisPoolStoreOptions o;
    o.url = "redis://app:app-pw-SECRET@127.0.0.1:" + std::to_string(server.port());
    if (absolute) o.expiry.absolute_lifetime = 1h;
    RedisPoolStore store(o);
    const std::string id = generate_session_id(), moved = generate_session_id();
    EXPECT_EQ(store.save(id, create({{"user", "ann"}})), SaveResult::saved);
    EXPECT_EQ(store.save(id, {SessionChanges::Mode::update, {{"n", 2}}, {"user"}}), SaveResult::saved);
    EXPECT_EQ(*store.increment(id, "n", 1, false), 3);
    EXPECT_TRUE(store.load(id));
    EXPECT_TRUE(store.touch(id));
    EXPECT_TRUE(store.exists(id));
    EXPECT_EQ(store.regenerate(id, moved), RegenerateResult::moved);
    EXPECT_EQ(store.count(), 1u);
    EXPECT_EQ(store.ids(), std::vector<std::string>{moved});
    EXPECT_TRUE(store.destroy(moved));
    store.save(id, create({}));
    EXPECT_EQ(store.clear(), 1u);
  }
  EXPECT_EQ(admin.command({"GET", "other:keep"}).str, "x");

  // The same user in another namespace: refused by Redis, reported typed.
  RedisPoolStoreOptions other;
  other.url = "redis://app:app-pw-SECRET@127.0.0.1:" + std::to_string(server.port());
  other.key_namespace = "other";
  RedisPoolStore outside(other);
  const std::string id = generate_session_id();
  try {
    outside.load(id);
    ADD_FAILURE() << "the ACL key pattern was not enforced";
  } catch (const ServerError& e) {
    EXPECT_EQ(e.prefix(), "NOPERM");
    EXPECT_EQ(std::string(e.what()).find(id), std::string::npos) << "a whole id in a message: " << e.what();
    EXPECT_EQ(std::string(e.what()).find("app-pw-SECRET"), std::string::npos) << e.what();
  }

  // A wrong password: AuthError (exactly), without the password.
  RedisPoolStoreOptions wrong = other;
  wrong.url = "redis://app:wrong-pw-SECRET@127.0.0.1:" + std::to_string(server.port());
  wrong.key_namespace = "session";
  RedisPoolStore refused(wrong);
  try {
    refused.exists(id);
    ADD_FAILURE() << "a wrong password was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(typeid(e), typeid(AuthError)) << e.what();
    EXPECT_EQ(std::string(e.what()).find("wrong-pw-SECRET"), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------- messages

// Provokes every kind of error with a password and a secret value in play,
// and checks that no message carries either (or a whole session id).
TEST(SecurityMessages, NoErrorMessageCarriesAPasswordSessionContentsOrAWholeId) {
  const std::string password = "pw-SECRET-0451";
  const std::string secret = "content-SECRET-9982";
  RedisServer server({.args = {"--requirepass", password}});
  const std::string good_url = "redis://:" + password + "@127.0.0.1:" + std::to_string(server.port());
  std::vector<std::pair<std::string, std::string>> messages;  // what was done, what() said
  auto provoke = [&](const std::string& what, auto&& f) {
    try {
      f();
      ADD_FAILURE() << what << ": no error";
    } catch (const Error& e) {
      messages.emplace_back(what, e.what());
    }
  };

  // Connection level: wrong password, missing password, nobody listening,
  // a server that never answers.
  for (const std::string& url : {"redis://:wrong-" + password + "@127.0.0.1:" + std::to_string(server.port()),
                                 "redis://127.0.0.1:" + std::to_string(server.port())}) {
    RedisPoolStoreOptions o;
    o.url = url;
    RedisPoolStore store(o);
    provoke("auth: " + url.substr(0, 10), [&] { store.exists("x"); });
  }
  {
    RedisPoolStoreOptions o;
    o.url = "redis://:" + password + "@127.0.0.1:" + std::to_string(test::free_port());
    RedisPoolStore store(o);
    provoke("refused", [&] { store.load("x"); });
  }
  {
    test::FakeServer silent("", 0ms);
    RedisPoolStoreOptions o;
    o.url = "redis://user:" + password + "@127.0.0.1:" + std::to_string(silent.port());
    o.connection.connect_timeout = 200ms;
    RedisPoolStore store(o);
    provoke("silent server", [&] { store.load("x"); });
  }

  // Store level, with a secret in the session.
  RedisPoolStoreOptions o;
  o.url = good_url;
  o.max_value_bytes = 256;
  auto store = std::make_shared<RedisPoolStore>(o);
  SessionManager manager(store);
  Session s = manager.open("");
  s.set("secret", secret);
  s.set("word", secret);
  manager.commit(s);
  const std::string id = s.id();
  redis::Connection admin([&] {
    redis::ConnectionOptions c = server.options();
    c.password = password;
    return c;
  }());
  provoke("increment of a field holding a secret", [&] { store->increment(id, "secret", 1, false); });
  provoke("get<int> of a secret", [&] { (void)manager.open("sid=" + id).get<int>("secret"); });
  provoke("a value over the limit", [&] {
    Session big = manager.open("sid=" + id);
    big.set("essay", secret + std::string(300, 'x'));
    manager.commit(big);
  });
  provoke("a value the codec cannot encode", [&] {
    Session bad = manager.open("sid=" + id);
    bad.set("utf8", secret + "\xff");
    manager.commit(bad);
  });
  admin.command({"HSET", "session:" + id, "corrupt", "{" + secret});
  provoke("corrupt bytes next to a secret", [&] { (void)manager.open("sid=" + id).fields(); });
  admin.command({"DEL", "session:" + id});
  admin.command({"SET", "session:" + id, secret});
  provoke("a string holding a secret at the session key", [&] { (void)manager.open("sid=" + id).fields(); });
  provoke("an invalid id", [&] { store->load(secret + " id"); });
  provoke("an invalid field", [&] { store->increment(id, std::string("\0", 1) + secret, 1, false); });

  ASSERT_GE(messages.size(), 12u);
  for (const auto& [what, message] : messages) {
    SCOPED_TRACE(what + ": " + message);
    EXPECT_EQ(message.find(password), std::string::npos) << "a password in a message";
    EXPECT_EQ(message.find("SECRET"), std::string::npos) << "a secret in a message";
    EXPECT_EQ(message.find(id), std::string::npos) << "a whole session id in a message";
    EXPECT_FALSE(message.empty());
  }
}

// ---------------------------------------------------------------- clear()

// clear() and count() of one namespace next to every neighbour that a
// prefix or glob could confuse with it: other namespaces, keys sharing the
// prefix without the colon, namespaces made of glob characters. Everything
// outside the namespace stays byte for byte (type, DUMP, expiry).
TEST(SecurityClear, ClearNeverTouchesAKeyOutsideItsNamespace) {
  RedisServer server;
  redis::Connection raw(server.options());
  const std::vector<std::string> namespaces = {"session", "s",  "sessio", "*",  "?",  "[a-z]",
                                               "[s]ession", "\\*", "s*", "ses?ion", "x^y-z"};
  auto make = [&](const std::string& ns) {
    RedisPoolStoreOptions o;
    o.url = server.url();
    o.key_namespace = ns;
    return std::make_unique<RedisPoolStore>(o);
  };
  for (const std::string& ns : namespaces) {
    auto store = make(ns);
    for (int i = 0; i < 20; ++i) store->save("id" + std::to_string(i), create({{"ns", ns}}));
  }
  // Neighbours that are not sessions of any of these stores.
  for (const char* k : {"sessionX:id1", "session", "sessions:id1", "Session:id1", "s", "*", "xsession:id1",
                               "session\\:id1", "other:session:id1", "[a-z]X:id1", "sX:id1"}) {
    raw.command({"SET", k, "neighbour"});
    raw.command({"PEXPIRE", k, "3600000"});
  }
  for (const std::string& ns : namespaces) {
    SCOPED_TRACE(ns);
    auto store = make(ns);
    test::Snapshot before = test::snapshot(raw);
    EXPECT_EQ(store->count(), 20u);
    EXPECT_EQ(store->clear(), 20u);
    EXPECT_EQ(store->count(), 0u);
    std::set<std::string> mine;
    for (int i = 0; i < 20; ++i) mine.insert(ns + ":id" + std::to_string(i));
    test::Snapshot after = test::snapshot(raw);
    EXPECT_EQ(test::diff(before, after, mine), "");
    for (const std::string& k : mine) EXPECT_EQ(after.count(k), 0u) << k;
  }
}

// A namespace that extends another with a colon ("app" and "app:admin", a
// common way to nest) is still another namespace: clear() of "app" must not
// destroy the sessions of "app:admin", and count() must not count them.
// SCAN MATCH "app:*" also matches "app:admin:<id>" (and "app:" or "app:a b");
// the store passes on only keys whose remainder is a valid id (ids cannot
// hold ':'). Failed before that filter: clear() unlinked whatever SCAN returned.
TEST(SecurityClear, ClearOfANamespaceSparesTheNamespacesNestedInIt) {
  RedisServer server;
  auto make = [&](const std::string& ns) {
    RedisPoolStoreOptions o;
    o.url = server.url();
    o.key_namespace = ns;
    return std::make_unique<RedisPoolStore>(o);
  };
  auto outer = make("app");
  auto inner = make("app:admin");
  for (int i = 0; i < 5; ++i) {
    outer->save("user" + std::to_string(i), create({{"role", "user"}}));
    inner->save("admin" + std::to_string(i), create({{"role", "admin"}}));
  }
  // Keys inside the prefix that no store id can name (ids are 1 to 256
  // characters of [A-Za-z0-9_.-]) are not this store's sessions either.
  server.command({"SET", "app:", "not a session"});
  server.command({"SET", "app:a b", "not a session"});
  EXPECT_EQ(outer->count(), 5u) << "count() of 'app' counts keys that are not its sessions";
  EXPECT_EQ(outer->ids().size(), 5u) << "ids() of 'app' lists keys that are not its sessions";
  EXPECT_EQ(outer->clear(), 5u);
  EXPECT_EQ(inner->count(), 5u) << "clear() of 'app' destroyed sessions of 'app:admin'";
  EXPECT_EQ(server.command({"EXISTS", "app:", "app:a b"}).integer, 2);
}

}  // namespace
}  // namespace redis_session
