// Unit tests for detail/percent.hpp, the percent-decoder shared by the Redis
// URL parser and the HTTP examples. No server needed.

#include "redis_session/detail/percent.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace redis_session::detail {
namespace {

TEST(HexDigit, ValuesAndNonDigits) {
  EXPECT_EQ(hex_digit('0'), 0);
  EXPECT_EQ(hex_digit('9'), 9);
  EXPECT_EQ(hex_digit('a'), 10);
  EXPECT_EQ(hex_digit('F'), 15);
  for (char c : {'g', 'G', '%', ' ', '\0', '/'}) EXPECT_EQ(hex_digit(c), -1) << int(c);
}

TEST(PercentDecode, EscapesBecomeBytes) {
  EXPECT_EQ(percent_decode("p%40ss%3Aw%25rd%2f"), std::optional<std::string>("p@ss:w%rd/"));
  EXPECT_EQ(percent_decode("%00"), std::optional<std::string>(std::string(1, '\0')));
  EXPECT_EQ(percent_decode(""), std::optional<std::string>(""));
}

TEST(PercentDecode, PlusIsASpaceOnlyWhenAsked) {
  EXPECT_EQ(percent_decode("a+b"), std::optional<std::string>("a+b"));
  EXPECT_EQ(percent_decode("a+b%2B", true), std::optional<std::string>("a b+"));
}

TEST(PercentDecode, TruncatedAndBadEscapesAreToldApart) {
  std::string out;
  for (const char* truncated : {"%", "%4", "ab%", "ok%2"}) {
    out.clear();
    EXPECT_EQ(percent_decode_to(out, truncated), PercentError::truncated) << truncated;
    EXPECT_FALSE(percent_decode(truncated)) << truncated;
  }
  for (const char* bad : {"%zz", "%g1", "%4%", "%%41"}) {
    out.clear();
    EXPECT_EQ(percent_decode_to(out, bad), PercentError::bad_digit) << bad;
    EXPECT_FALSE(percent_decode(bad)) << bad;
  }
}

TEST(PercentDecode, DecodeToAppends) {
  std::string out = "x";
  EXPECT_EQ(percent_decode_to(out, "%41b"), PercentError::none);
  EXPECT_EQ(out, "xAb");
}

}  // namespace
}  // namespace redis_session::detail
