// The streams under redis::Connection, through it: Unix sockets, TLS
// (verification, client certificates, options), and the deadlines the
// transports keep on connect, read and write, against real redis-server
// processes and a fake server that stalls or answers late.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "redis_session/error.hpp"
#include "redis_session/redis/connection.hpp"
#include "support/elapsed.hpp"
#include "support/messages.hpp"
#include "support/redis_server.hpp"
#include "support/shared_server.hpp"

namespace redis_session {
namespace {

using namespace std::chrono_literals;
using redis::Connection;
using redis::ConnectionOptions;
using Clock = std::chrono::steady_clock;

using ConnectionTest = test::SharedRedisServer<false>;

// Options for `fake` that send nothing while connecting (no CLIENT SETNAME),
// so the connect succeeds whatever the fake does with commands.
ConnectionOptions quiet(const test::FakeServer& fake, std::chrono::milliseconds command_timeout) {
  ConnectionOptions o;
  o.port = fake.port();
  o.client_name.clear();
  o.command_timeout = command_timeout;
  return o;
}

// ---------------------------------------------------------------- Unix socket and write errors

TEST_F(ConnectionTest, UnixSocket) {
  ConnectionOptions o;
  o.unix_path = server_->unix_path();
  Connection c(o);
  EXPECT_TRUE(c.command({"SET", "conn:unix", "u"}).is_status("OK"));
  EXPECT_EQ(c.command({"GET", "conn:unix"}).str, "u");
  EXPECT_EQ(c.endpoint(), "unix:" + server_->unix_path());
}

TEST_F(ConnectionTest, UnixSocketFromUrl) {
  Connection c(redis::parse_url("unix://" + server_->unix_path() + "?db=2"));
  c.command({"SET", "conn:unix-db", "2"});
  Connection db0(server_->options());
  EXPECT_TRUE(db0.command({"GET", "conn:unix-db"}).is_nil());
}

TEST_F(ConnectionTest, WritingToAClosedPeerIsIoErrorNotSigpipe) {
  struct sigaction before {};
  ASSERT_EQ(::sigaction(SIGPIPE, nullptr, &before), 0);
  test::RedisServer own;
  Connection c(own.options());
  ASSERT_TRUE(c.command({"PING"}).is_status("PONG"));
  own.kill();
  std::string big(4 << 20, 'x');  // more than the socket buffers hold: the write itself fails
  EXPECT_THROW(c.command({"SET", "conn:k", big}), IoError);
  EXPECT_TRUE(c.broken());
  struct sigaction after {};
  ASSERT_EQ(::sigaction(SIGPIPE, nullptr, &after), 0);
  EXPECT_EQ(before.sa_handler, after.sa_handler) << "the library must not change SIGPIPE's disposition";
}

// ---------------------------------------------------------------- TLS

using ConnectionTls = test::SharedRedisServer<true>;

TEST_F(ConnectionTls, VerifiedRoundTripAndPipeline) {
  Connection c(server_->tls_options());
  EXPECT_TRUE(c.command({"PING"}).is_status("PONG"));
  std::string value("tls\0\r\nvalue", 11);
  c.command({"SET", "tls:k", value});
  EXPECT_EQ(c.command({"GET", "tls:k"}).str, value);
  redis::Request req;
  for (int i = 0; i < 1000; ++i) req.push({"INCR", "tls:n"});
  auto replies = c.execute(req);
  ASSERT_EQ(replies.size(), 1000u);
  EXPECT_EQ(replies.back().integer - replies.front().integer, 999);
}

TEST_F(ConnectionTls, FromRedissUrl) {
  ConnectionOptions o = redis::parse_url("rediss://localhost:" + std::to_string(server_->tls_port()) + "/1");
  o.tls.ca_file = test::TlsMaterial::get().ca_file;
  Connection c(o);
  EXPECT_TRUE(c.command({"PING"}).is_status("PONG"));
}

TEST_F(ConnectionTls, IpAddressInCertificateVerifies) {
  ConnectionOptions o = server_->tls_options();
  o.host = "127.0.0.1";  // the certificate lists IP:127.0.0.1 too
  Connection c(o);
  EXPECT_TRUE(c.command({"PING"}).is_status("PONG"));
}

TEST_F(ConnectionTls, UntrustedCertificateIsRefused) {
  ConnectionOptions o = server_->tls_options();
  o.tls.ca_file = test::TlsMaterial::get().other_ca_file;
  EXPECT_THROW(Connection{o}, ConnectError);
}

TEST_F(ConnectionTls, WrongHostNameIsRefused) {
  ConnectionOptions o = server_->tls_options();
  o.tls.server_name = "not-this-server.example";
  std::string msg = test::message_of([&] { Connection c(o); });
  EXPECT_NE(msg.find("TLS handshake"), std::string::npos) << msg;
  EXPECT_THROW(Connection{o}, ConnectError);
}

TEST_F(ConnectionTls, VerificationOptOutConnects) {
  ConnectionOptions o = server_->tls_options();
  o.tls.ca_file = test::TlsMaterial::get().other_ca_file;
  o.tls.verify_peer = false;
  Connection c(o);
  EXPECT_TRUE(c.command({"PING"}).is_status("PONG"));
}

TEST_F(ConnectionTls, PlainClientOnTlsPortFailsTyped) {
  ConnectionOptions o = server_->options();
  o.port = server_->tls_port();
  o.connect_timeout = 1s;
  EXPECT_THROW(Connection{o}, ConnectionError);
}

TEST(ConnectionTlsClientCert, RequiredClientCertificate) {
  test::RedisServer server({.tls = true, .tls_require_client_cert = true});
  ConnectionOptions o = server.tls_options();
  EXPECT_THROW(
      {
        Connection c(o);
        c.command({"PING"});  // TLS 1.3 may report the missing certificate after the handshake
      },
      ConnectionError);
  o.tls.cert_file = test::TlsMaterial::get().client_cert;
  o.tls.key_file = test::TlsMaterial::get().client_key;
  Connection c(o);
  EXPECT_TRUE(c.command({"PING"}).is_status("PONG"));
}

TEST(ConnectionTlsOptions, MissingCaFileIsInvalidOptions) {
  ConnectionOptions o;
  o.host = "localhost";
  o.port = test::free_port();
  o.tls.enabled = true;
  o.tls.ca_file = "/nonexistent/ca.pem";
  EXPECT_THROW(Connection{o}, InvalidOptionsError);
}

// ---------------------------------------------------------------- deadlines

TEST(ConnectionDeadlines, ServerThatNeverAnswersTimesOutOnTime) {
  test::FakeServer silent("", 0ms);
  Connection c(quiet(silent, 500ms));
  auto start = Clock::now();
  EXPECT_THROW(c.command({"PING"}), TimeoutError);
  test::expect_near_deadline(test::since(start), 500ms);
  EXPECT_TRUE(c.broken());
}

TEST(ConnectionDeadlines, LateReplyFromFakeServerIsNeverRead) {
  test::FakeServer slow("+LATE\r\n", 400ms);
  Connection c(quiet(slow, 150ms));
  EXPECT_THROW(c.command({"PING"}), TimeoutError);
  std::this_thread::sleep_for(500ms);
  EXPECT_THROW(c.command({"PING"}), IoError);  // never "+LATE"
}

// ---------------------------------------------------------------- deadlines

// A reply is first waited for in recv() with SO_RCVTIMEO at three quarters
// of the time left, then by ppoll() to the deadline: a reply in that last
// quarter is still read, on the same connection again and again, and a
// fast round trip after it is not cut short by a leftover short timeout.
TEST(ConnectionDeadlines, ReplyInTheLastQuarterOfTheDeadlineIsRead) {
  test::FakeServer slow("+LATE\r\n", 420ms);
  Connection c(quiet(slow, 500ms));
  for (int i = 0; i < 3; ++i) {
    auto start = Clock::now();
    EXPECT_EQ(c.command({"PING"}).str, "LATE") << "round trip " << i;
    EXPECT_GE(test::since(start), 400ms);
    EXPECT_LT(test::since(start), 500ms);
  }
  EXPECT_FALSE(c.broken());
}

// ---------------------------------------------------------------- deadlines

TEST(ConnectionDeadlines, RefusedPortFailsFast) {
  ConnectionOptions o;
  o.port = test::free_port();  // nobody listens there
  auto start = Clock::now();
  EXPECT_THROW(Connection{o}, ConnectError);
  EXPECT_LT(test::since(start).count(), 200);
}

TEST(ConnectionDeadlines, MissingUnixSocketFailsFast) {
  ConnectionOptions o;
  o.unix_path = "/nonexistent/redis.sock";
  EXPECT_THROW(Connection{o}, ConnectError);
}

TEST(ConnectionDeadlines, BlackholedPortTimesOutOnTime) {
  // A listener whose accept queue is full: the kernel drops further SYNs, so
  // a connect hangs exactly like one to a firewalled host.
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener, 0), 0);
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  std::vector<int> fillers;
  for (int i = 0; i < 4; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    fillers.push_back(fd);
  }
  std::this_thread::sleep_for(100ms);

  ConnectionOptions o;
  o.port = ntohs(addr.sin_port);
  o.connect_timeout = 500ms;
  auto start = Clock::now();
  EXPECT_THROW(Connection{o}, TimeoutError);
  test::expect_near_deadline(test::since(start), 500ms);
  for (int fd : fillers) ::close(fd);
  ::close(listener);
}

}  // namespace
}  // namespace redis_session
