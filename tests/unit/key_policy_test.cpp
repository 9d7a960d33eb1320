// Session keys, their redacted form for messages, and SCAN's glob escaping.
#include "redis_session/detail/key_policy.hpp"

#include <gtest/gtest.h>

#include "redis_session/error.hpp"

namespace redis_session::detail {
namespace {

TEST(KeyPolicy, KeyIsNamespaceColonCheckedId) {
  EXPECT_EQ(session_key("session", "abc-_.9"), "session:abc-_.9");
  EXPECT_EQ(session_key("a:b", "x"), "a:b:x");
  EXPECT_THROW(session_key("session", ""), InvalidArgumentError);
  EXPECT_THROW(session_key("session", "a b"), InvalidArgumentError);
  EXPECT_THROW(session_key("session", std::string(257, 'a')), InvalidArgumentError);
}

TEST(KeyPolicy, RedactedKeepsTheNamespaceAndFourCharacters) {
  EXPECT_EQ(redacted_key("session:abcdefgh"), "session:abcd...");
  EXPECT_EQ(redacted_key("a:b:abcdefgh"), "a:b:abcd...");
  EXPECT_EQ(redacted_key("session:ab"), "session:ab...");
  EXPECT_EQ(redacted_key("nocolon"), "...");
}

TEST(KeyPolicy, GlobEscape) {
  EXPECT_EQ(glob_escape("plain"), "plain");
  EXPECT_EQ(glob_escape("a*b?c[d]e\\f^g-h"), "a\\*b\\?c\\[d\\]e\\\\f\\^g\\-h");
}

TEST(KeyPolicy, IdInNamespace) {
  EXPECT_EQ(id_in_namespace("app", "app:abc"), "abc");
  EXPECT_EQ(id_in_namespace("app", "app:"), "");
  EXPECT_EQ(id_in_namespace("app", "app:a b"), "");
  EXPECT_EQ(id_in_namespace("app", "app:admin:abc"), "") << "a nested namespace is not ours";
  EXPECT_EQ(id_in_namespace("app", "apx:abc"), "");
  EXPECT_EQ(id_in_namespace("app", "app"), "");
}

}  // namespace
}  // namespace redis_session::detail
