// The fault-injection proxy itself (tests/support/fault_proxy.hpp): each
// fault does what the scenarios rely on, seen through a real
// redis::Connection to a real redis-server.

#include "support/fault_proxy.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "redis_session/error.hpp"
#include "redis_session/redis/connection.hpp"
#include "support/redis_server.hpp"

namespace redis_session {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test::FaultProxy;
using test::RedisServer;

redis::ConnectionOptions via(const FaultProxy& proxy, std::chrono::milliseconds timeout = 2000ms) {
  redis::ConnectionOptions o;
  o.host = "127.0.0.1";
  o.port = proxy.port();
  o.connect_timeout = timeout;
  o.command_timeout = timeout;
  return o;
}

long long ms_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

TEST(FaultProxy, ForwardsBothWaysAndCounts) {
  RedisServer server;
  FaultProxy proxy(server.port());
  redis::Connection c(via(proxy));
  c.command({"SET", "k", std::string(10000, 'x')});
  EXPECT_EQ(c.command({"GET", "k"}).str, std::string(10000, 'x'));
  EXPECT_EQ(proxy.accepted(), 1u);
  EXPECT_EQ(proxy.open_connections(), 1u);
  EXPECT_GT(proxy.bytes_to_server(), 10000u);
  // The client may read the reply before the loop has counted it.
  const auto until = Clock::now() + 2s;
  while (proxy.bytes_to_client() <= 10000u && Clock::now() < until) std::this_thread::sleep_for(1ms);
  EXPECT_GT(proxy.bytes_to_client(), 10000u);
}

TEST(FaultProxy, LatencyDelaysEachRoundTrip) {
  RedisServer server;
  FaultProxy proxy(server.port());
  redis::Connection c(via(proxy));
  proxy.set_latency(FaultProxy::Direction::to_client, 100ms);
  auto start = Clock::now();
  c.command({"PING"});
  long long took = ms_since(start);
  EXPECT_GE(took, 100);
  EXPECT_LT(took, 1000);
  proxy.set_latency(FaultProxy::Direction::to_client, 0ms);
  proxy.set_random_delay(FaultProxy::Direction::to_server, 1.0, 150ms);
  start = Clock::now();
  c.command({"PING"});
  EXPECT_GE(ms_since(start), 150);
  EXPECT_GE(proxy.delayed_chunks(), 1u);
}

TEST(FaultProxy, StallForwardsNothingUntilItClears) {
  RedisServer server;
  FaultProxy proxy(server.port());
  redis::Connection c(via(proxy, 200ms));
  proxy.set_stall(true);
  auto start = Clock::now();
  EXPECT_THROW(c.command({"PING"}), TimeoutError);
  EXPECT_GE(ms_since(start), 200);
  // New connections are accepted but their setup goes unanswered.
  EXPECT_THROW(redis::Connection(via(proxy, 200ms)), TimeoutError);
  EXPECT_GE(proxy.accepted(), 2u);
  proxy.set_stall(false);
  redis::Connection fresh(via(proxy));
  EXPECT_TRUE(fresh.command({"PING"}).is_status("PONG"));
}

TEST(FaultProxy, CutAllClosesOpenConnections) {
  RedisServer server;
  FaultProxy proxy(server.port());
  redis::Connection a(via(proxy));
  redis::Connection b(via(proxy));
  proxy.cut_all();
  EXPECT_EQ(proxy.open_connections(), 0u);
  EXPECT_THROW(a.command({"PING"}), IoError);
  EXPECT_THROW(b.command({"PING"}), IoError);
  redis::Connection again(via(proxy));
  EXPECT_TRUE(again.command({"PING"}).is_status("PONG"));
}

TEST(FaultProxy, ResetMidReplyForwardsPartThenResets) {
  RedisServer server;
  FaultProxy proxy(server.port());
  redis::Connection c(via(proxy));
  c.command({"SET", "k", std::string(2000, 'v')});
  proxy.reset_next_replies(1);
  EXPECT_THROW(c.command({"GET", "k"}), IoError);
  EXPECT_TRUE(c.broken());
  EXPECT_FALSE(c.failed_before_reply());  // part of the reply did arrive
  EXPECT_EQ(proxy.resets_mid_reply(), 1u);
  redis::Connection again(via(proxy));
  EXPECT_EQ(again.command({"GET", "k"}).str.size(), 2000u);
}

TEST(FaultProxy, DropReplyRunsTheRequestAndSendsNoByteBack) {
  RedisServer server;
  FaultProxy proxy(server.port());
  redis::Connection c(via(proxy));
  EXPECT_EQ(c.round_trips(), 0u) << "setup is not a use";
  c.command({"PING"});
  EXPECT_EQ(c.round_trips(), 1u);
  proxy.drop_next_replies(1);
  EXPECT_THROW(c.command({"SET", "k", "ran"}), IoError);
  EXPECT_TRUE(c.failed_before_reply());  // not one byte of the reply arrived
  EXPECT_EQ(server.command({"GET", "k"}).str, "ran") << "yet the server ran it";
  redis::Connection again(via(proxy));
  EXPECT_EQ(again.command({"GET", "k"}).str, "ran");
}

TEST(FaultProxy, DownRefusesConnectionsUntilUp) {
  RedisServer server;
  FaultProxy proxy(server.port());
  redis::Connection before(via(proxy));
  proxy.set_down(true);
  EXPECT_THROW(before.command({"PING"}), IoError);
  EXPECT_THROW(redis::Connection(via(proxy)), ConnectError);
  proxy.set_down(false);
  redis::Connection after(via(proxy));
  EXPECT_TRUE(after.command({"PING"}).is_status("PONG"));
}

TEST(FaultProxy, ServerGoneBehindTheProxyResetsNewConnections) {
  auto server = std::make_unique<RedisServer>();
  FaultProxy proxy(server->port());
  server.reset();
  EXPECT_THROW(redis::Connection(via(proxy)), ConnectionError);
}

}  // namespace
}  // namespace redis_session
