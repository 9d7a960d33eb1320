// The call engine's decision after a failed try, without a server: every
// branch of what the store does with an error reply or a connection error.
#include "redis_session/detail/retry_decision.hpp"

#include <gtest/gtest.h>

#include <string>

namespace redis_session::detail {
namespace {

RetryContext cluster(int redirects = 0, bool backoff_fits = true) {
  RetryContext c;
  c.is_cluster = true;
  c.routed = true;
  c.redirects = redirects;
  c.max_redirects = 5;
  c.backoff_fits = backoff_fits;
  return c;
}

RetryContext standalone(bool backoff_fits) {
  RetryContext c;
  c.backoff_fits = backoff_fits;
  return c;
}

TEST(RetryDecision, MovedAndAskFollowTheirTarget) {
  RetryDecision moved = decide_after_error_reply("MOVED 3999 127.0.0.1:6381", cluster());
  EXPECT_EQ(moved.action, RetryAction::follow_moved);
  EXPECT_EQ(moved.target, "127.0.0.1:6381");
  RetryDecision ask = decide_after_error_reply("ASK 3999 [::1]:7000", cluster());
  EXPECT_EQ(ask.action, RetryAction::follow_ask);
  EXPECT_EQ(ask.target, "[::1]:7000");
}

TEST(RetryDecision, RedirectsStopAtTheLimit) {
  EXPECT_EQ(decide_after_error_reply("MOVED 1 h:1", cluster(4)).action, RetryAction::follow_moved);
  EXPECT_EQ(decide_after_error_reply("MOVED 1 h:1", cluster(5)).action, RetryAction::give_back);
  EXPECT_EQ(decide_after_error_reply("ASK 1 h:1", cluster(5)).action, RetryAction::give_back);
}

TEST(RetryDecision, RedirectsAreOnlyFollowedForARoutedClusterCall) {
  RetryContext one_node = cluster();
  one_node.routed = false;  // SCAN of one given node
  EXPECT_EQ(decide_after_error_reply("MOVED 1 h:1", one_node).action, RetryAction::give_back);
  EXPECT_EQ(decide_after_error_reply("MOVED 1 h:1", standalone(true)).action, RetryAction::give_back);
  EXPECT_EQ(decide_after_error_reply("ASK 1 h:1", standalone(true)).action, RetryAction::give_back);
}

TEST(RetryDecision, TransientRefusalsRetryWhileTheWindowLasts) {
  for (std::string prefix : {"CLUSTERDOWN", "READONLY", "MASTERDOWN", "LOADING", "NOREPLICAS"}) {
    EXPECT_EQ(decide_after_error_reply(prefix + " the text", cluster()).action, RetryAction::retry_refresh) << prefix;
    EXPECT_EQ(decide_after_error_reply(prefix + " the text", standalone(true)).action, RetryAction::retry_refresh)
        << prefix;
    EXPECT_EQ(decide_after_error_reply(prefix + " the text", cluster(0, false)).action, RetryAction::give_back)
        << prefix;
  }
  // A slot in migration is not a stale map: no refresh.
  EXPECT_EQ(decide_after_error_reply("TRYAGAIN Multiple keys", cluster()).action, RetryAction::retry);
  EXPECT_EQ(decide_after_error_reply("TRYAGAIN Multiple keys", cluster(0, false)).action, RetryAction::give_back);
  EXPECT_EQ(decide_after_error_reply("LOADING", standalone(true)).action, RetryAction::retry_refresh)
      << "a prefix without text";
}

TEST(RetryDecision, OtherErrorsAreTheCallersToInterpret) {
  for (const char* text : {"ERR unknown command", "WRONGTYPE Operation", "NOSCRIPT No matching script", "RSMETA x", "",
                           "LOADINGX not the word", "ERR READONLY inside"}) {
    EXPECT_EQ(decide_after_error_reply(text, cluster()).action, RetryAction::give_back) << text;
  }
}

TEST(RetryDecision, ConnectionErrors) {
  const RetryContext fits = standalone(true);
  // Nothing sent: any call may go again.
  EXPECT_EQ(decide_after_connection_error(false, false, false, fits).action, RetryAction::retry_refresh);
  EXPECT_EQ(decide_after_connection_error(false, false, true, fits).action, RetryAction::retry_refresh);
  // Sent: only an idempotent call.
  EXPECT_EQ(decide_after_connection_error(false, true, true, fits).action, RetryAction::retry_refresh);
  EXPECT_EQ(decide_after_connection_error(false, true, false, fits).action, RetryAction::rethrow);
  // A refused login, or no time left: never.
  EXPECT_EQ(decide_after_connection_error(true, false, true, fits).action, RetryAction::rethrow);
  EXPECT_EQ(decide_after_connection_error(false, false, true, standalone(false)).action, RetryAction::rethrow);
}

TEST(RetryDecision, TransientPrefixes) {
  for (const char* p : {"TRYAGAIN", "CLUSTERDOWN", "READONLY", "MASTERDOWN", "LOADING", "NOREPLICAS"}) {
    EXPECT_TRUE(is_transient(p)) << p;
  }
  for (const char* p : {"", "MOVED", "ASK", "ERR", "loading", "TRYAGAIN "}) EXPECT_FALSE(is_transient(p)) << p;
}

}  // namespace
}  // namespace redis_session::detail
