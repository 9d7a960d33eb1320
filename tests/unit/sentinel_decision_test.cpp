// SentinelRouter's decisions without a server: the sentinels' and the data
// nodes' replies parsed into values, and what the router does with them
// (use a master, hold writes back, ask the next sentinel, fail), branch by
// branch. tests/cluster/sentinel*_test.cpp run the same against real
// sentinels and failovers.

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "redis_session/detail/sentinel_decision.hpp"
#include "redis_session/error.hpp"
#include "replies.hpp"

namespace redis_session::detail::sentinel {
namespace {

using namespace std::chrono_literals;
using test::fields;
using test::list;
using test::nil;
using test::text;
using Kind = Action::Kind;
using Why = Action::Why;

constexpr auto fence_for = 5000ms;
const Clock::time_point t0 = Clock::time_point() + 1h;

// ---- parsing

TEST(SentinelReplies, AddressesDropTheTlsScheme) {
  EXPECT_EQ(address_of("rediss://10.0.0.1:6379"), "10.0.0.1:6379");
  EXPECT_EQ(address_of("10.0.0.1:6379"), "10.0.0.1:6379");
  EXPECT_EQ(address_of("rediss://[::1]:6379"), "[::1]:6379");
}

TEST(SentinelReplies, MasterAddress) {
  std::optional<NamedMaster> named = parse_master_addr(list({text("10.0.0.1"), text("6380")}));
  ASSERT_TRUE(named);
  EXPECT_EQ(named->host, "10.0.0.1");
  EXPECT_EQ(named->port, 6380);
  EXPECT_FALSE(parse_master_addr(nil()));  // a master this sentinel does not know
  EXPECT_FALSE(parse_master_addr(list({text("10.0.0.1")})));
  EXPECT_FALSE(parse_master_addr(list({text("h"), text("1"), text("2")})));
  EXPECT_THROW(parse_master_addr(list({text("h"), text("port")})), InvalidOptionsError);
}

TEST(SentinelReplies, FailoverInProgressFlag) {
  EXPECT_TRUE(reports_failover(fields({{"name", "m"}, {"flags", "master,failover_in_progress"}})));
  EXPECT_FALSE(reports_failover(fields({{"name", "m"}, {"flags", "master"}})));
  EXPECT_FALSE(reports_failover(fields({{"name", "m"}})));
  EXPECT_FALSE(reports_failover(nil()));
}

TEST(SentinelReplies, ReplicasWorthAskingForTheirRole) {
  redis::Reply replicas =
      list({fields({{"ip", "10.0.0.2"}, {"port", "6379"}, {"flags", "slave"}}),
            fields({{"ip", "10.0.0.3"}, {"port", "6379"}, {"flags", "s_down,slave"}}),
            fields({{"ip", "10.0.0.4"}, {"port", "6379"}, {"flags", "slave,disconnected"}}),
            fields({{"port", "6379"}, {"flags", "slave"}}), fields({{"ip", "10.0.0.5"}, {"flags", "slave"}}),
            fields({{"ip", "::1"}, {"port", "6390"}, {"flags", "slave"}})});
  EXPECT_EQ(parse_replicas(replicas), (std::vector<std::string>{"10.0.0.2:6379", "[::1]:6390"}));
  EXPECT_EQ(parse_replicas(list({})), std::vector<std::string>{});  // listed, none
  EXPECT_FALSE(parse_replicas(nil()));                              // not listed
  EXPECT_THROW(parse_replicas(list({fields({{"ip", "h"}, {"port", "99999"}})})), InvalidOptionsError);
}

TEST(SentinelReplies, Role) {
  EXPECT_EQ(parse_role(list({text("master"), test::number(0), list({})})), "master");
  EXPECT_EQ(parse_role(list({text("slave"), text("10.0.0.1"), test::number(6379)})), "slave");
  EXPECT_FALSE(parse_role(list({})));
  EXPECT_FALSE(parse_role(text("master")));
}

TEST(SentinelReplies, FenceReasonsSayWhy) {
  EXPECT_EQ((FenceReason{FenceReason::Kind::failover_in_progress, "s1:26379"}.text()),
            "sentinel s1:26379 reports a failover in progress");
  EXPECT_EQ((FenceReason{FenceReason::Kind::replica_says_master, "10.0.0.2:6379"}.text()),
            "replica 10.0.0.2:6379 says it is a master");
  EXPECT_LT((FenceReason{FenceReason::Kind::failover_in_progress, "b"}),
            (FenceReason{FenceReason::Kind::replica_says_master, "a"}));
  EXPECT_LT((FenceReason{FenceReason::Kind::replica_says_master, "a"}),
            (FenceReason{FenceReason::Kind::replica_says_master, "b"}));
}

// ---- the state

State following(const std::string& master) {
  State s;
  s.sentinels = {"s1:26379", "s2:26379", "s3:26379"};
  EXPECT_TRUE(follow(s, master, t0));
  return s;
}

TEST(SentinelState, FollowLeavesTheOldMasterAndDropsTheFence) {
  State s;
  EXPECT_TRUE(follow(s, "rediss://10.0.0.1:6379", t0));  // the first: nothing left behind
  EXPECT_EQ(s.master, "10.0.0.1:6379");
  EXPECT_TRUE(s.left.empty());
  EXPECT_FALSE(follow(s, "10.0.0.1:6379", t0));  // already followed
  s.fence = FenceReason{FenceReason::Kind::replica_says_master, "10.0.0.2:6379"};
  EXPECT_TRUE(follow(s, "10.0.0.2:6379", t0 + 1s));
  EXPECT_EQ(s.master, "10.0.0.2:6379");
  EXPECT_EQ(s.left.at("10.0.0.1:6379"), t0 + 1s);
  EXPECT_FALSE(s.fence);
  EXPECT_FALSE(follow(s, "rediss://10.0.0.1:6379", t0 + 2s));  // left behind
  EXPECT_FALSE(followable(s, "rediss://10.0.0.1:6379"));
  EXPECT_TRUE(followable(s, "10.0.0.3:6379"));
}

TEST(SentinelState, OnlyTheUnfencedMasterIsWritable) {
  State s = following("10.0.0.1:6379");
  EXPECT_TRUE(writable(s, "10.0.0.1:6379"));
  EXPECT_TRUE(writable(s, "rediss://10.0.0.1:6379"));
  EXPECT_FALSE(writable(s, "10.0.0.2:6379"));
  s.fence = FenceReason{FenceReason::Kind::failover_in_progress, "s1:26379"};
  EXPECT_FALSE(writable(s, "10.0.0.1:6379"));
}

TEST(SentinelState, TheSentinelThatAnsweredIsAskedFirst) {
  State s = following("10.0.0.1:6379");
  promote(s, "s3:26379");
  EXPECT_EQ(s.sentinels, (std::vector<std::string>{"s3:26379", "s1:26379", "s2:26379"}));
  promote(s, "s3:26379");
  promote(s, "nowhere:1");
  EXPECT_EQ(s.sentinels, (std::vector<std::string>{"s3:26379", "s1:26379", "s2:26379"}));
}

// ---- a connection's master

TEST(SentinelConnect, HeldWhileFenced) {
  State s = following("10.0.0.1:6379");
  EXPECT_EQ(before_connect(s, "m").kind, Kind::use);
  s.fence = FenceReason{FenceReason::Kind::replica_says_master, "10.0.0.2:6379"};
  const Action held = before_connect(s, "m");
  EXPECT_EQ(held.kind, Kind::hold);
  EXPECT_EQ(held.why, Why::fenced);
  EXPECT_EQ(held.message,
            "failover of 'm' under way: replica 10.0.0.2:6379 says it is a master is being promoted; no writes to "
            "10.0.0.1:6379 meanwhile");
}

TEST(SentinelConnect, ASentinelThatNamesNoneOrALeftMasterSendsUsToTheNext) {
  State s = following("10.0.0.1:6379");
  ASSERT_TRUE(follow(s, "10.0.0.2:6379", t0));
  const Action unknown = on_named(s, "s1:26379", std::nullopt, "m");
  EXPECT_EQ(unknown.kind, Kind::ask_next);
  EXPECT_EQ(unknown.why, Why::unknown_master);
  EXPECT_EQ(unknown.message, "s1:26379 does not know master 'm'");
  const Action stale = on_named(s, "s2:26379", std::string("rediss://10.0.0.1:6379"), "m");
  EXPECT_EQ(stale.kind, Kind::ask_next);
  EXPECT_EQ(stale.why, Why::stale_master);
  EXPECT_EQ(stale.message, "s2:26379 still names rediss://10.0.0.1:6379, the master before a failover");
  EXPECT_EQ(on_named(s, "s3:26379", std::string("10.0.0.2:6379"), "m").kind, Kind::use);
  EXPECT_EQ(on_named(s, "s3:26379", std::string("10.0.0.3:6379"), "m").kind, Kind::use);

  const Action none = none_named(3, "s3:26379: timeout", "m");
  EXPECT_EQ(none.kind, Kind::fail);
  EXPECT_EQ(none.why, Why::no_master_named);
  EXPECT_EQ(none.message, "no sentinel (of 3) named a master for 'm'; last: s3:26379: timeout");
}

TEST(SentinelConnect, TheNamedServerMustSayItIsAMaster) {
  EXPECT_EQ(on_role(std::string("master"), "10.0.0.1:6379", "m").kind, Kind::use);
  const Action replica = on_role(std::string("slave"), "10.0.0.1:6379", "m");
  EXPECT_EQ(replica.kind, Kind::fail);
  EXPECT_EQ(replica.why, Why::not_a_master);
  EXPECT_EQ(replica.message, "10.0.0.1:6379, named master 'm' by the sentinels, is not a master (ROLE: slave)");
  EXPECT_EQ(on_role(std::nullopt, "10.0.0.1:6379", "m").message,
            "10.0.0.1:6379, named master 'm' by the sentinels, is not a master (ROLE: ?)");
}

// ---- the watcher

TEST(SentinelWatch, RoleTargetsAreTheListedReplicasAndTheMastersLeftOnce) {
  State s = following("10.0.0.1:6379");
  ASSERT_TRUE(follow(s, "10.0.0.2:6379", t0));
  EXPECT_EQ(role_targets(s, {"10.0.0.3:6379", "10.0.0.1:6379", "10.0.0.3:6379"}),
            (std::vector<std::string>{"10.0.0.1:6379", "10.0.0.3:6379"}));
  EXPECT_EQ(role_targets(State{}, {}), std::vector<std::string>{});
}

TEST(SentinelWatch, WithoutTheFenceTheFirstAnswerIsFollowed) {
  State s = following("10.0.0.1:6379");
  Observations seen;
  seen.named = {"10.0.0.1:6379", "10.0.0.2:6379"};
  seen.claimants = {"10.0.0.2:6379"};  // not a reason without the fence
  WatchAction a = on_watch(s, seen, 0ms, t0);
  EXPECT_FALSE(a.raised);
  EXPECT_FALSE(a.followed);  // the first names ours; the second is not asked
  EXPECT_FALSE(s.fence);

  seen.named = {"10.0.0.2:6379"};
  a = on_watch(s, seen, 0ms, t0);
  EXPECT_EQ(a.followed, "10.0.0.2:6379");
  EXPECT_EQ(s.master, "10.0.0.2:6379");
  EXPECT_EQ(s.left.count("10.0.0.1:6379"), 1u);
  EXPECT_EQ(on_watch(s, Observations{}, 0ms, t0).followed, std::nullopt);  // no sentinel answered
}

TEST(SentinelWatch, AReplicaSayingMasterRaisesTheFenceUntilItLastsTooLong) {
  State s = following("10.0.0.1:6379");
  Observations seen;
  seen.named = {"10.0.0.1:6379"};
  seen.claimants = {"10.0.0.1:6379", "10.0.0.2:6379"};  // ours is no reason
  WatchAction a = on_watch(s, seen, fence_for, t0);
  EXPECT_TRUE(a.raised);
  EXPECT_FALSE(a.followed);
  ASSERT_TRUE(s.fence);
  EXPECT_EQ(*s.fence, (FenceReason{FenceReason::Kind::replica_says_master, "10.0.0.2:6379"}));
  EXPECT_EQ(before_connect(s, "m").kind, Kind::hold);

  a = on_watch(s, seen, fence_for, t0 + 4s);  // still within promotion_fence: held, not raised again
  EXPECT_FALSE(a.raised);
  EXPECT_TRUE(s.fence);

  a = on_watch(s, seen, fence_for, t0 + 5s);  // no sentinel confirmed in time: not a failover after all
  EXPECT_FALSE(s.fence);
  EXPECT_EQ(s.ignored.count({FenceReason::Kind::replica_says_master, "10.0.0.2:6379"}), 1u);
  a = on_watch(s, seen, fence_for, t0 + 6s);  // the same claim again is ignored
  EXPECT_FALSE(a.raised);
  EXPECT_FALSE(s.fence);

  Observations replica;
  replica.named = {"10.0.0.1:6379"};
  replica.replicas = {"10.0.0.2:6379"};  // seen to be over: a new claim counts again
  on_watch(s, replica, fence_for, t0 + 7s);
  EXPECT_TRUE(s.ignored.empty());
  EXPECT_TRUE(on_watch(s, seen, fence_for, t0 + 8s).raised);
}

TEST(SentinelWatch, ASentinelReportingAFailoverRaisesTheFenceFirst) {
  State s = following("10.0.0.1:6379");
  Observations seen;
  seen.named = {"10.0.0.1:6379"};
  seen.in_progress = {"s2:26379"};
  seen.quiet = {"s1:26379"};
  seen.claimants = {"10.0.0.2:6379"};
  EXPECT_TRUE(on_watch(s, seen, fence_for, t0).raised);
  EXPECT_EQ(*s.fence, (FenceReason{FenceReason::Kind::failover_in_progress, "s2:26379"}));

  Observations calm;
  calm.named = {"10.0.0.1:6379"};
  calm.quiet = {"s1:26379", "s2:26379"};
  EXPECT_FALSE(on_watch(s, calm, fence_for, t0 + 1s).raised);
  EXPECT_FALSE(s.fence);  // no reason left: let go

  s.ignored.insert({FenceReason::Kind::failover_in_progress, "s2:26379"});
  on_watch(s, calm, fence_for, t0 + 2s);  // a sentinel seen quiet is no longer ignored
  EXPECT_TRUE(s.ignored.empty());
}

TEST(SentinelWatch, WhileFencedTheFirstSentinelNamingAFollowableMasterWins) {
  State s = following("10.0.0.1:6379");
  s.left["10.0.0.9:6379"] = t0;  // a master left earlier
  Observations seen;
  seen.named = {"10.0.0.1:6379", "10.0.0.9:6379", "10.0.0.2:6379", "10.0.0.3:6379"};
  seen.claimants = {"10.0.0.2:6379", "10.0.0.9:6379"};  // a master left behind is no reason
  WatchAction a = on_watch(s, seen, fence_for, t0);
  EXPECT_TRUE(a.raised);
  EXPECT_EQ(a.followed, "10.0.0.2:6379");  // ours and the one left are passed over
  EXPECT_EQ(s.master, "10.0.0.2:6379");
  EXPECT_FALSE(s.fence);  // following the new master ends the fence
  EXPECT_EQ(s.left.count("10.0.0.1:6379"), 1u);
}

TEST(SentinelWatch, AMasterLeftIsFollowableOnceSeenAsAReplicaOrAfterAMinute) {
  State s = following("10.0.0.1:6379");
  ASSERT_TRUE(follow(s, "10.0.0.2:6379", t0));
  Observations failback;
  failback.named = {"10.0.0.1:6379"};
  failback.replicas = {"10.0.0.1:6379"};  // turned into a replica, then promoted back
  EXPECT_EQ(on_watch(s, failback, 0ms, t0 + 1s).followed, "10.0.0.1:6379");

  ASSERT_TRUE(follow(s, "10.0.0.3:6379", t0 + 2s));  // 10.0.0.1 left at t0 + 2s
  Observations stale;
  stale.named = {"10.0.0.1:6379"};
  EXPECT_FALSE(on_watch(s, stale, 0ms, t0 + 62s).followed);  // a minute, not more
  EXPECT_EQ(on_watch(s, stale, 0ms, t0 + 62s + 1ms).followed, "10.0.0.1:6379");
}

}  // namespace
}  // namespace redis_session::detail::sentinel
