// The fault-injection proxy itself (tests/support/fault_proxy.hpp): each
// fault does what the scenarios rely on, seen through a real
// redis::Connection to a real redis-server.

#include "support/fault_proxy.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "redis_session/error.hpp"
#include "redis_session/redis/connection.hpp"
#include "support/proxied_redis.hpp"

namespace redis_session {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Direction = test::FaultProxy::Direction;

// Every test has a redis-server and the proxy in front of it.
class FaultProxy : public ::testing::Test, protected test::ProxiedRedis {};

redis::ConnectionOptions via(const test::FaultProxy& proxy, std::chrono::milliseconds timeout = 2000ms) {
  return test::connection_via(proxy, timeout);
}

long long ms_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

TEST_F(FaultProxy, ForwardsBothWaysAndCounts) {
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

TEST_F(FaultProxy, LatencyDelaysEachRoundTrip) {
  redis::Connection c(via(proxy));
  proxy.set_latency(Direction::to_client, 100ms);
  auto start = Clock::now();
  c.command({"PING"});
  long long took = ms_since(start);
  EXPECT_GE(took, 100);
  EXPECT_LT(took, 1000);
  proxy.set_latency(Direction::to_client, 0ms);
  proxy.set_random_delay(Direction::to_server, 1.0, 150ms);
  start = Clock::now();
  c.command({"PING"});
  EXPECT_GE(ms_since(start), 150);
  EXPECT_GE(proxy.delayed_chunks(), 1u);
}

TEST_F(FaultProxy, StallForwardsNothingUntilItClears) {
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

TEST_F(FaultProxy, CutAllClosesOpenConnections) {
  redis::Connection a(via(proxy));
  redis::Connection b(via(proxy));
  proxy.cut_all();
  EXPECT_EQ(proxy.open_connections(), 0u);
  EXPECT_THROW(a.command({"PING"}), IoError);
  EXPECT_THROW(b.command({"PING"}), IoError);
  redis::Connection again(via(proxy));
  EXPECT_TRUE(again.command({"PING"}).is_status("PONG"));
}

TEST_F(FaultProxy, ResetMidReplyForwardsPartThenResets) {
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

TEST_F(FaultProxy, DropReplyRunsTheRequestAndSendsNoByteBack) {
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

TEST_F(FaultProxy, DownRefusesConnectionsUntilUp) {
  redis::Connection before(via(proxy));
  proxy.set_down(true);
  EXPECT_THROW(before.command({"PING"}), IoError);
  EXPECT_THROW(redis::Connection(via(proxy)), ConnectError);
  proxy.set_down(false);
  redis::Connection after(via(proxy));
  EXPECT_TRUE(after.command({"PING"}).is_status("PONG"));
}

TEST_F(FaultProxy, ServerGoneBehindTheProxyResetsNewConnections) {
  auto gone = std::make_unique<test::RedisServer>();
  test::FaultProxy to_gone(gone->port());
  gone.reset();
  EXPECT_THROW(redis::Connection(via(to_gone)), ConnectionError);
}

}  // namespace
}  // namespace redis_session
