// Cluster/Sentinel configuration without a server: the redis+cluster:// and
// redis+sentinel:// URLs and option validation. (The slot map is
// slot_map_test.cpp's, the Sentinel decisions sentinel_decision_test.cpp's.)

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "redis_session/error.hpp"
#include "redis_session/redis/topology.hpp"
#include "redis_session/redis_pool_store.hpp"

namespace redis_session::redis {
namespace {

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

}  // namespace
}  // namespace redis_session::redis
