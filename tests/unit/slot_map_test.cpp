// The Redis Cluster slot map without a server: key slots, and the map read
// from CLUSTER SHARDS and CLUSTER SLOTS replies.
// (Slots are also checked against a real node's CLUSTER KEYSLOT in tests/cluster/.)

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "redis_session/detail/slot_map.hpp"
#include "redis_session/error.hpp"
#include "redis_session/redis/topology.hpp"
#include "replies.hpp"

namespace redis_session::redis {
namespace {

using test::list;
using test::nil;
using test::number;
using test::text;

TEST(KeySlot, MatchesRedisCluster) {
  // Values from the Redis Cluster specification and CLUSTER KEYSLOT.
  EXPECT_EQ(key_slot("123456789"), 12739);  // CRC16/XMODEM check value 0x31C3
  EXPECT_EQ(key_slot("foo"), 12182);
  EXPECT_EQ(key_slot(""), 0);
}

TEST(KeySlot, HashTagRules) {
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("{user1000}.followers"));
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("user1000"));
  EXPECT_EQ(key_slot("foo{}{bar}"), key_slot(std::string("foo{}{bar}")));  // empty tag: the whole key
  EXPECT_NE(key_slot("foo{}{bar}"), key_slot("bar"));
  EXPECT_EQ(key_slot("foo{{bar}}zap"), key_slot("{bar"));  // the first '{' to the next '}'
  EXPECT_EQ(key_slot("foo{bar}{zap}"), key_slot("bar"));
  EXPECT_EQ(key_slot("no}tag{"), key_slot(std::string("no}tag{")));
}

Reply shard_node(const std::string& ip, long long port, const std::string& role, const std::string& health) {
  return list({text("id"), text(ip + std::to_string(port)), text("port"), number(port), text("tls-port"),
               number(port + 1000), text("ip"), text(ip), text("role"), text(role), text("health"), text(health)});
}
Reply shard(long long first, long long last, std::vector<Reply> nodes) {
  return list({text("slots"), list({number(first), number(last)}), text("nodes"), list(std::move(nodes))});
}
std::vector<std::string> owners(const Reply& shards, bool tls = false) {
  std::vector<detail::SlotRange> ranges;
  EXPECT_TRUE(detail::parse_shards(shards, tls, ranges));
  std::vector<std::string> out;
  for (const auto& range : ranges) {
    out.push_back(std::to_string(range.first) + "-" + std::to_string(range.last) + " " + range.endpoint);
  }
  return out;
}

TEST(ClusterShards, OneMasterPerShardWithTheTlsPortWhenAsked) {
  Reply shards = list(
      {shard(0, 8191,
             {shard_node("10.0.0.1", 7000, "master", "online"), shard_node("10.0.0.2", 7000, "replica", "online")}),
       shard(8192, 16383, {shard_node("10.0.0.3", 7000, "master", "online")})});
  EXPECT_EQ(owners(shards), (std::vector<std::string>{"0-8191 10.0.0.1:7000", "8192-16383 10.0.0.3:7000"}));
  EXPECT_EQ(owners(shards, true), (std::vector<std::string>{"0-8191 10.0.0.1:8000", "8192-16383 10.0.0.3:8000"}));
}

// After a failover, newer servers list the failed old primary (still role
// "master" until it rejoins) in the shard of the promoted one. Before, the
// last master listed won: the slots went to a dead node, and every refresh
// installed the same map again.
TEST(ClusterShards, APromotedMasterWinsOverTheFailedOneInItsShard) {
  Reply after = list({shard(
      0, 16383, {shard_node("10.0.0.2", 7000, "master", "online"), shard_node("10.0.0.1", 7000, "master", "fail")})});
  EXPECT_EQ(owners(after), (std::vector<std::string>{"0-16383 10.0.0.2:7000"}));
  Reply reversed = list({shard(
      0, 16383, {shard_node("10.0.0.1", 7000, "master", "fail"), shard_node("10.0.0.2", 7000, "master", "online")})});
  EXPECT_EQ(owners(reversed), (std::vector<std::string>{"0-16383 10.0.0.2:7000"}));
  Reply loading = list({shard(
      0, 16383, {shard_node("10.0.0.1", 7000, "master", "fail"), shard_node("10.0.0.2", 7000, "master", "loading")})});
  EXPECT_EQ(owners(loading), (std::vector<std::string>{"0-16383 10.0.0.2:7000"}));
}

TEST(ClusterShards, AShardWithoutAMasterHasNoOwnerAndABadShapeIsRefused) {
  Reply orphan = list({shard(0, 99, {shard_node("10.0.0.2", 7000, "replica", "online")}),
                       shard(100, 16383, {shard_node("10.0.0.3", 7000, "master", "online")})});
  EXPECT_EQ(owners(orphan), (std::vector<std::string>{"100-16383 10.0.0.3:7000"}));
  std::vector<detail::SlotRange> ranges;
  EXPECT_FALSE(detail::parse_shards(text("nope"), false, ranges));
  EXPECT_FALSE(detail::parse_shards(list({list({text("slots"), list({})})}), false, ranges));
}

std::vector<std::string> described(const std::vector<detail::SlotRange>& ranges) {
  std::vector<std::string> out;
  for (const auto& range : ranges) {
    out.push_back(std::to_string(range.first) + "-" + std::to_string(range.last) + " " + range.endpoint);
  }
  return out;
}

TEST(ClusterShards, AMasterWithoutHealthCountsAsOnlineAndBadNodesAreRefused) {
  Reply bare =
      list({list({text("slots"), list({number(0), number(16383)}), text("nodes"),
                  list({list({text("role"), text("master"), text("ip"), text("::1"), text("port"), number(7000)})})})});
  EXPECT_EQ(owners(bare), (std::vector<std::string>{"0-16383 [::1]:7000"}));
  // Asked for TLS, a node without a tls-port is reached on its port.
  EXPECT_EQ(owners(bare, true), (std::vector<std::string>{"0-16383 [::1]:7000"}));
  std::vector<detail::SlotRange> ranges;
  Reply no_ip = list({list({text("slots"), list({number(0), number(1)}), text("nodes"),
                            list({list({text("role"), text("master"), text("port"), number(7000)})})})});
  EXPECT_FALSE(detail::parse_shards(no_ip, false, ranges));
  Reply text_port =
      list({list({text("slots"), list({number(0), number(1)}), text("nodes"),
                  list({list({text("role"), text("master"), text("ip"), text("h"), text("port"), text("7000")})})})});
  EXPECT_FALSE(detail::parse_shards(text_port, false, ranges));
  EXPECT_FALSE(detail::parse_shards(list({text("not a shard")}), false, ranges));
}

Reply slots_range(long long first, long long last, const std::string& ip, long long port) {
  return list({number(first), number(last), list({text(ip), number(port), text("id")}),
               list({text("10.0.0.9"), number(7009), text("replica-id")})});
}

TEST(ClusterSlots, TheFirstNodeOfEachRangeServesItAndAnEmptyHostIsTheOneAsked) {
  std::vector<detail::SlotRange> ranges;
  ASSERT_TRUE(detail::parse_slots(list({slots_range(0, 99, "10.0.0.1", 7000), slots_range(100, 16383, "", 7001)}),
                                  "asked.example", ranges));
  EXPECT_EQ(described(ranges), (std::vector<std::string>{"0-99 10.0.0.1:7000", "100-16383 asked.example:7001"}));
}

TEST(ClusterSlots, ABadShapeIsRefused) {
  std::vector<detail::SlotRange> ranges;
  EXPECT_FALSE(detail::parse_slots(nil(), "h", ranges));
  EXPECT_FALSE(detail::parse_slots(list({text("x")}), "h", ranges));
  EXPECT_FALSE(detail::parse_slots(list({list({number(0), number(1)})}), "h", ranges));
  EXPECT_FALSE(detail::parse_slots(list({list({number(0), number(1), text("h")})}), "h", ranges));
  EXPECT_FALSE(detail::parse_slots(list({list({number(0), number(1), list({text("h")})})}), "h", ranges));
}

TEST(SlotMap, OnlyRealSlotsAreInstalled) {
  EXPECT_TRUE(detail::is_valid({0, 16383, "h:1"}));
  EXPECT_TRUE(detail::is_valid({5, 5, "h:1"}));
  EXPECT_FALSE(detail::is_valid({-1, 5, "h:1"}));
  EXPECT_FALSE(detail::is_valid({0, 16384, "h:1"}));
  EXPECT_FALSE(detail::is_valid({6, 5, "h:1"}));
}

TEST(SlotMap, EndpointsBracketIpv6Hosts) {
  EXPECT_EQ(detail::endpoint_of("10.0.0.1", 7000), "10.0.0.1:7000");
  EXPECT_EQ(detail::endpoint_of("::1", 7000), "[::1]:7000");
  EXPECT_EQ(detail::endpoint_of("redis.example", 6379), "redis.example:6379");
}

}  // namespace
}  // namespace redis_session::redis
