// redis::Connection against real redis-server processes (and a fake server
// for the behaviours a real one can't be made to show on demand): commands,
// pipelines, setup (AUTH, SELECT, CLIENT SETNAME) and the failure model. The
// streams under it (Unix socket, TLS, deadlines) are in transport_test.cpp.

#include "redis_session/redis/connection.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "redis_session/error.hpp"
#include "support/elapsed.hpp"
#include "support/messages.hpp"
#include "support/redis_server.hpp"
#include "support/shared_server.hpp"

namespace redis_session {
namespace {

using namespace std::chrono_literals;
using redis::Connection;
using redis::ConnectionOptions;
using redis::Reply;
using redis::Request;
using test::expect_near_deadline;
using test::FakeServer;
using test::message_of;
using test::RedisServer;
using test::since;
using Clock = std::chrono::steady_clock;

using ConnectionTest = test::SharedRedisServer<false>;

TEST_F(ConnectionTest, TcpSetAndGet) {
  Connection c(server_->options());
  EXPECT_TRUE(c.command({"SET", "conn:tcp", "value"}).is_status("OK"));
  Reply r = c.command({"GET", "conn:tcp"});
  ASSERT_TRUE(r.is_string());
  EXPECT_EQ(r.str, "value");
  EXPECT_TRUE(c.command({"GET", "conn:missing"}).is_nil());
  EXPECT_FALSE(c.broken());
}

TEST_F(ConnectionTest, HostNameIsResolved) {
  ConnectionOptions o = server_->options();
  o.host = "localhost";
  Connection c(o);
  EXPECT_TRUE(c.command({"PING"}).is_status("PONG"));
}

TEST_F(ConnectionTest, ClientNameIsSet) {
  ConnectionOptions o = server_->options();
  o.client_name = "checkout-service";
  Connection c(o);
  EXPECT_EQ(c.command({"CLIENT", "GETNAME"}).str, "checkout-service");
}

TEST_F(ConnectionTest, SelectDb) {
  ConnectionOptions o = server_->options();
  o.db = 3;
  Connection db3(o);
  db3.command({"SET", "conn:db", "three"});
  Connection db0(server_->options());
  EXPECT_TRUE(db0.command({"GET", "conn:db"}).is_nil());
  EXPECT_EQ(db3.command({"GET", "conn:db"}).str, "three");
  Connection again(redis::parse_url(server_->url() + "/3"));
  EXPECT_EQ(again.command({"GET", "conn:db"}).str, "three");
}

TEST_F(ConnectionTest, SelectOutOfRangeIsServerError) {
  ConnectionOptions o = server_->options();
  o.db = 999;
  try {
    Connection c(o);
    FAIL() << "connected to db 999";
  } catch (const ServerError& e) {
    EXPECT_EQ(e.prefix(), "ERR");
    EXPECT_NE(std::string(e.what()).find("SELECT 999"), std::string::npos) << e.what();
  }
}

TEST_F(ConnectionTest, PipelineOfOne) {
  Connection c(server_->options());
  Request req;
  req.push({"INCR", "conn:p1"});
  auto replies = c.execute(req);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_TRUE(replies[0].is_integer());
}

TEST_F(ConnectionTest, PipelineOfThousandKeepsOrder) {
  Connection c(server_->options());
  c.command({"DEL", "conn:p1000"});
  Request req;
  for (int i = 0; i < 1000; ++i) req.push({"RPUSH", "conn:p1000", std::to_string(i)});
  req.push({"LRANGE", "conn:p1000", "0", "-1"});
  auto replies = c.execute(req);
  ASSERT_EQ(replies.size(), 1001u);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(replies[i].is_integer());
    EXPECT_EQ(replies[i].integer, i + 1);
  }
  ASSERT_EQ(replies[1000].elements.size(), 1000u);
  EXPECT_EQ(replies[1000].elements[999].str, "999");
}

TEST_F(ConnectionTest, PipelineWithErrorRepliesInTheMiddle) {
  Connection c(server_->options());
  c.command({"SET", "conn:str", "x"});
  Request req;
  req.push({"GET", "conn:str"}).push({"HGET", "conn:str", "f"}).push({"GET", "conn:str"});
  auto replies = c.execute(req);
  ASSERT_EQ(replies.size(), 3u);
  EXPECT_EQ(replies[0].str, "x");
  ASSERT_TRUE(replies[1].is_error());
  EXPECT_EQ(replies[1].str.rfind("WRONGTYPE", 0), 0u);
  EXPECT_EQ(replies[2].str, "x");
  EXPECT_FALSE(c.broken());
  try {
    c.command({"HGET", "conn:str", "f"});
    FAIL();
  } catch (const ServerError& e) {
    EXPECT_EQ(e.prefix(), "WRONGTYPE");
  }
  EXPECT_FALSE(c.broken()) << "an error reply must not break the connection";
}

TEST_F(ConnectionTest, BinaryValuesRoundTrip) {
  Connection c(server_->options());
  std::string value("a\0b\r\nc\n\r\0\xff\x01", 12);
  std::string key("conn:bin\0key\r\n", 14);
  c.command({"SET", key, value});
  Reply r = c.command({"GET", key});
  EXPECT_EQ(r.str, value);
  std::string big(1 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 31 % 256);
  c.command({"SET", "conn:big", big});
  EXPECT_EQ(c.command({"GET", "conn:big"}).str, big);
}

TEST_F(ConnectionTest, ReplyOverTheLimitIsProtocolErrorAndBreaks) {
  Connection setup(server_->options());
  setup.command({"SET", "conn:large", std::string(8192, 'x')});
  ConnectionOptions o = server_->options();
  o.max_reply_bytes = 4096;
  Connection c(o);
  EXPECT_THROW(c.command({"GET", "conn:large"}), ProtocolError);
  EXPECT_TRUE(c.broken());
  EXPECT_THROW(c.command({"PING"}), IoError);
}

TEST_F(ConnectionTest, EmptyCommandIsRejectedBeforeIo) {
  Request req;
  EXPECT_THROW(req.push(std::vector<std::string>{}), InvalidArgumentError);
}

TEST_F(ConnectionTest, LateReplyNeverReachesALaterCommand) {
  Connection c(server_->options());
  c.command({"DEL", "conn:late"});
  c.set_command_timeout(200ms);
  // BLPOP answers (nil) after 600 ms: well after our deadline.
  auto start = Clock::now();
  EXPECT_THROW(c.command({"BLPOP", "conn:late", "0.6"}), TimeoutError);
  expect_near_deadline(since(start), 200ms);
  EXPECT_TRUE(c.broken());
  std::this_thread::sleep_for(700ms);  // the late nil has certainly been sent by now
  EXPECT_THROW(c.command({"GET", "conn:late"}), IoError);
  Connection fresh(server_->options());
  fresh.command({"SET", "conn:late", "v"});
  EXPECT_EQ(fresh.command({"GET", "conn:late"}).str, "v");
}

TEST_F(ConnectionTest, ServerKilledMidCommandIsTypedErrorThenRecovers) {
  RedisServer own;
  ConnectionOptions o = own.options();
  o.command_timeout = 10s;
  Connection c(o);
  auto pending = std::async(std::launch::async, [&] {
    auto start = Clock::now();
    try {
      c.command({"BLPOP", "conn:never", "5"});
    } catch (const IoError&) {
      return since(start);
    }
    return std::chrono::milliseconds(-1);
  });
  std::this_thread::sleep_for(200ms);
  own.kill();
  auto waited = pending.get();
  ASSERT_GE(waited.count(), 0) << "expected IoError";
  EXPECT_LT(waited.count(), 2000);
  EXPECT_TRUE(c.broken());
  EXPECT_THROW(Connection{o}, ConnectError);
  own.start();
  Connection again(o);
  EXPECT_TRUE(again.command({"PING"}).is_status("PONG"));
}

// ---------------------------------------------------------------- credentials

TEST(ConnectionAuth, PasswordRequired) {
  RedisServer server({.args = {"--requirepass", "correct horse"}});
  ConnectionOptions o = server.options();
  o.password = "correct horse";
  Connection c(o);
  EXPECT_TRUE(c.command({"PING"}).is_status("PONG"));

  o.password = "wrong-password-123";
  std::string msg = message_of([&] { Connection bad(o); });
  EXPECT_NE(msg.find("authentication"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("wrong-password-123"), std::string::npos) << "password leaked: " << msg;
  EXPECT_THROW(Connection{o}, AuthError);

  o.password.clear();  // CLIENT SETNAME during setup answers NOAUTH
  EXPECT_THROW(Connection{o}, AuthError);
}

TEST(ConnectionAuth, AclUser) {
  RedisServer server;
  server.command({"ACL", "SETUSER", "alice", "on", ">alice-pw", "~sess:*", "+@all"});
  ConnectionOptions o = server.options();
  o.username = "alice";
  o.password = "alice-pw";
  Connection c(o);
  EXPECT_EQ(c.command({"ACL", "WHOAMI"}).str, "alice");
  EXPECT_TRUE(c.command({"SET", "sess:1", "x"}).is_status("OK"));
  try {
    c.command({"SET", "other:1", "x"});
    FAIL() << "ACL key pattern not enforced";
  } catch (const ServerError& e) {
    EXPECT_EQ(e.prefix(), "NOPERM");
  }
  o.password = "not-alices-pw";
  std::string msg = message_of([&] { Connection bad(o); });
  EXPECT_EQ(msg.find("not-alices-pw"), std::string::npos) << msg;
  EXPECT_THROW(Connection{o}, AuthError);
}

// ---------------------------------------------------------------- setup deadline

TEST(ConnectionDeadlines, SetupAgainstSilentServerHitsConnectDeadline) {
  FakeServer silent("", 0ms);
  ConnectionOptions o;
  o.port = silent.port();
  o.connect_timeout = 500ms;  // covers CLIENT SETNAME too
  auto start = Clock::now();
  std::string msg = message_of([&] { Connection c(o); });
  expect_near_deadline(since(start), 500ms);
  EXPECT_NE(msg.find("connecting to"), std::string::npos) << msg;
  EXPECT_NE(msg.find("timed out after 500 ms"), std::string::npos) << msg;
}

TEST(ConnectionOptionsCheck, InvalidOptionsBeforeAnyIo) {
  ConnectionOptions o;
  o.command_timeout = 0ms;
  EXPECT_THROW(Connection{o}, InvalidOptionsError);
  o = {};
  o.username = "alice";  // without a password
  EXPECT_THROW(Connection{o}, InvalidOptionsError);
}

}  // namespace
}  // namespace redis_session
