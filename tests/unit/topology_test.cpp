// Cluster/Sentinel configuration without a server: key slots, the
// redis+cluster:// and redis+sentinel:// URLs, option validation, the slot
// map read from a CLUSTER SHARDS reply.
// (Slots are also checked against a real node's CLUSTER KEYSLOT in tests/cluster/.)

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "redis_session/detail/router.hpp"
#include "redis_session/error.hpp"
#include "redis_session/redis/topology.hpp"
#include "redis_session/redis_pool_store.hpp"

namespace redis_session::redis {
namespace {

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

TEST(TopologyUrl, Cluster) {
  TopologyUrl t = parse_topology_url("redis+cluster://alice:s3cret@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002");
  ASSERT_TRUE(t.cluster);
  EXPECT_FALSE(t.sentinel);
  EXPECT_EQ(t.cluster->seeds, (std::vector<std::string>{"10.0.0.1:7000", "10.0.0.2:7001", "[::1]:7002"}));
  EXPECT_EQ(t.connection.username, "alice");
  EXPECT_EQ(t.connection.password, "s3cret");
  EXPECT_FALSE(t.connection.tls.enabled);
  EXPECT_TRUE(parse_topology_url("rediss+cluster://h1:7000").connection.tls.enabled);
  EXPECT_EQ(parse_topology_url("redis+cluster://h1").cluster->seeds, std::vector<std::string>{"h1:6379"});
}

TEST(TopologyUrl, Sentinel) {
  TopologyUrl t = parse_topology_url("redis+sentinel://:pw@s1:26379,s2:26380/mymaster/3");
  ASSERT_TRUE(t.sentinel);
  EXPECT_FALSE(t.cluster);
  EXPECT_EQ(t.sentinel->master_name, "mymaster");
  EXPECT_EQ(t.sentinel->sentinels, (std::vector<std::string>{"s1:26379", "s2:26380"}));
  EXPECT_EQ(t.connection.db, 3);
  EXPECT_EQ(t.connection.password, "pw");
  EXPECT_EQ(parse_topology_url("redis+sentinel://s1/m").sentinel->sentinels, std::vector<std::string>{"s1:26379"});
}

TEST(TopologyUrl, RejectsWithoutQuotingThePassword) {
  for (const char* bad : {"redis+cluster://", "redis+cluster://pw@h1:7000/2", "redis+cluster://h1:7000?db=1",
                          "redis+sentinel://s1:26379", "redis+sentinel://s1:26379/", "redis+sentinel://s1:0/m",
                          "redis+cluster://h1:7000,,h2:7001", "redis+cluster://a b:7000", "redis://h:1",
                          "redis+sentinel://u:s3cretPW@s1:99999/m", "redis+cluster://u:s3cretPW@h/x@y"}) {
    try {
      parse_topology_url(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const InvalidOptionsError& e) {
      EXPECT_EQ(std::string(e.what()).find("s3cretPW"), std::string::npos) << e.what();
    }
  }
  EXPECT_TRUE(is_topology_url("redis+cluster://h:1"));
  EXPECT_TRUE(is_topology_url("rediss+sentinel://h:1/m"));
  EXPECT_FALSE(is_topology_url("redis://h:1"));
}

TEST(TopologyOptions, Validate) {
  EXPECT_THROW(ClusterOptions{}.validate(), InvalidOptionsError);
  EXPECT_NO_THROW((ClusterOptions{.seeds = {"127.0.0.1:7000"}}.validate()));
  EXPECT_THROW((ClusterOptions{.seeds = {"127.0.0.1"}}.validate()), InvalidOptionsError);
  EXPECT_THROW((ClusterOptions{.seeds = {"h:1"}, .max_redirects = 0}.validate()), InvalidOptionsError);
  EXPECT_THROW((SentinelOptions{.sentinels = {"h:1"}}.validate()), InvalidOptionsError);
  EXPECT_THROW((SentinelOptions{.master_name = "m"}.validate()), InvalidOptionsError);
  EXPECT_NO_THROW((SentinelOptions{.master_name = "m", .sentinels = {"h:26379"}}.validate()));
  SentinelOptions fence{.master_name = "m", .sentinels = {"h:26379"}};
  fence.promotion_fence = std::chrono::milliseconds(0);  // off
  EXPECT_NO_THROW(fence.validate());
  fence.promotion_fence = std::chrono::milliseconds(-1);
  EXPECT_THROW(fence.validate(), InvalidOptionsError);
}

TEST(TopologyOptions, StoreRefusesContradictions) {
  auto make = [](RedisPoolStoreOptions o) { RedisPoolStore store(std::move(o)); };
  RedisPoolStoreOptions both;
  both.cluster = ClusterOptions{.seeds = {"127.0.0.1:7000"}};
  both.sentinel = SentinelOptions{.master_name = "m", .sentinels = {"127.0.0.1:26379"}};
  EXPECT_THROW(make(both), InvalidOptionsError);

  RedisPoolStoreOptions db;
  db.cluster = ClusterOptions{.seeds = {"127.0.0.1:7000"}};
  db.connection.db = 2;
  EXPECT_THROW(make(db), InvalidOptionsError);

  RedisPoolStoreOptions url_and_options;
  url_and_options.url = "redis+cluster://127.0.0.1:7000";
  url_and_options.sentinel = SentinelOptions{.master_name = "m", .sentinels = {"127.0.0.1:26379"}};
  EXPECT_THROW(make(url_and_options), InvalidOptionsError);

  RedisPoolStoreOptions shared;
  shared.cluster = ClusterOptions{.seeds = {"127.0.0.1:7000"}};
  shared.shared_pool = make_connection_pool(ConnectionOptions{});
  EXPECT_THROW(make(shared), InvalidOptionsError);
}

TEST(TopologyOptions, ClusterStoreHasNoSinglePool) {
  // Constructing connects nowhere: the slot map is learnt on first use.
  RedisPoolStoreOptions options;
  options.url = "redis+cluster://127.0.0.1:1";
  RedisPoolStore store(options);
  EXPECT_THROW(store.pool(), InvalidOptionsError);
  EXPECT_TRUE(store.options().cluster.has_value());
}

Reply text(std::string s) {
  Reply r;
  r.type = Reply::Type::string;
  r.str = std::move(s);
  return r;
}
Reply number(long long n) {
  Reply r;
  r.type = Reply::Type::integer;
  r.integer = n;
  return r;
}
Reply list(std::vector<Reply> elements) {
  Reply r;
  r.type = Reply::Type::array;
  r.elements = std::move(elements);
  return r;
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
  Reply shards = list({shard(0, 8191, {shard_node("10.0.0.1", 7000, "master", "online"),
                                       shard_node("10.0.0.2", 7000, "replica", "online")}),
                       shard(8192, 16383, {shard_node("10.0.0.3", 7000, "master", "online")})});
  EXPECT_EQ(owners(shards), (std::vector<std::string>{"0-8191 10.0.0.1:7000", "8192-16383 10.0.0.3:7000"}));
  EXPECT_EQ(owners(shards, true), (std::vector<std::string>{"0-8191 10.0.0.1:8000", "8192-16383 10.0.0.3:8000"}));
}

// After a failover, newer servers list the failed old primary (still role
// "master" until it rejoins) in the shard of the promoted one. Before, the
// last master listed won: the slots went to a dead node, and every refresh
// installed the same map again.
TEST(ClusterShards, APromotedMasterWinsOverTheFailedOneInItsShard) {
  Reply after = list({shard(0, 16383, {shard_node("10.0.0.2", 7000, "master", "online"),
                                       shard_node("10.0.0.1", 7000, "master", "fail")})});
  EXPECT_EQ(owners(after), (std::vector<std::string>{"0-16383 10.0.0.2:7000"}));
  Reply reversed = list({shard(0, 16383, {shard_node("10.0.0.1", 7000, "master", "fail"),
                                          shard_node("10.0.0.2", 7000, "master", "online")})});
  EXPECT_EQ(owners(reversed), (std::vector<std::string>{"0-16383 10.0.0.2:7000"}));
  Reply loading = list({shard(0, 16383, {shard_node("10.0.0.1", 7000, "master", "fail"),
                                         shard_node("10.0.0.2", 7000, "master", "loading")})});
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

}  // namespace
}  // namespace redis_session::redis
