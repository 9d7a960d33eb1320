// Unit tests for redis::Request, the RESP command encoder. hiredis's
// redisFormatCommandArgv is the oracle: Request writes RESP itself (no
// sprintf, no temporary buffer) and must produce the very same bytes. No
// server needed.

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "redis_session/error.hpp"
#include "redis_session/redis/request.hpp"

namespace redis_session {
namespace {

using namespace std::string_literals;
using redis::Request;

std::string hiredis_format(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  char* encoded = nullptr;
  int len = redisFormatCommandArgv(&encoded, static_cast<int>(args.size()), argv.data(), lens.data());
  if (len < 0 || encoded == nullptr) throw std::bad_alloc();
  std::string out(encoded, static_cast<std::size_t>(len));
  redisFreeCommand(encoded);
  return out;
}

std::string encode(const std::vector<std::string>& args) {
  Request request;
  request.push(args);
  return request.payload();
}

// Every argument length from 0 to 1001 crosses each number-of-digits boundary
// of the "$<len>" header.
std::vector<std::vector<std::string>> tricky_commands() {
  std::vector<std::vector<std::string>> commands = {
      {"PING"},
      {""},
      {"", "", ""},
      {"SET", "", "value"},
      {"SET", "key", ""},
      {"SET", "k\0ey"s, "\0\0\0"s},
      {"SET", "\0"s, "a\0b\0c"s},
      {"SET", "line\r\nbreak", "\r\n"},
      {"SET", "*3\r\n$3\r\nSET\r\n", "$-1\r\n"},
      {"SET", "\r", "\n", "\n\r"},
      {"HSET", "k", std::string(64 * 1024, 'x'), std::string(64 * 1024 + 1, '\r')},
      {"SET", "big", std::string(1024 * 1024 + 7, '\0')},
  };
  std::string all_bytes;
  for (int c = 0; c < 256; ++c) all_bytes.push_back(static_cast<char>(c));
  commands.push_back({"SET", all_bytes, all_bytes + all_bytes});
  std::vector<std::string> lengths{"MSET"};
  for (std::size_t n = 0; n <= 1001; ++n) lengths.push_back(std::string(n, static_cast<char>('a' + n % 26)));
  commands.push_back(lengths);
  for (std::size_t argc : {9, 10, 11, 15, 16, 17, 99, 100, 101, 10000}) {
    std::vector<std::string> many{"HMGET"};
    for (std::size_t i = 1; i < argc; ++i) many.push_back("field:" + std::to_string(i));
    commands.push_back(many);
  }
  return commands;
}

TEST(RequestTest, EncodesLikeRedisFormatCommandArgv) {
  for (const auto& args : tricky_commands()) {
    std::string expected = hiredis_format(args);
    std::string got = encode(args);
    ASSERT_EQ(got.size(), expected.size()) << args.size() << " arguments, first " << args[0].substr(0, 16);
    ASSERT_TRUE(got == expected) << args.size() << " arguments, first " << args[0].substr(0, 16);
  }
}

TEST(RequestTest, EncodesTheWireFormatByHand) {
  EXPECT_EQ(encode({"SET", "k\0"s, ""}), "*3\r\n$3\r\nSET\r\n$2\r\nk\0\r\n$0\r\n\r\n"s);
  EXPECT_EQ(encode({""}), "*1\r\n$0\r\n\r\n");
}

TEST(RequestTest, PipelinedCommandsAreConcatenatedInOrder) {
  auto commands = tricky_commands();
  Request request;
  std::string expected;
  for (const auto& args : commands) {
    request.push(args);
    expected += hiredis_format(args);
  }
  EXPECT_EQ(request.size(), commands.size());
  EXPECT_FALSE(request.empty());
  EXPECT_TRUE(request.payload() == expected);
}

TEST(RequestTest, EveryOverloadGivesTheSameBytes) {
  const std::string value = "v\0\r\n"s;
  std::vector<std::string> strings{"HSET", "key", "", value};
  std::vector<std::string_view> views{"HSET", "key", std::string_view(), value};  // a null, empty view too
  Request from_list{"HSET", "key", "", value};
  Request from_strings;
  from_strings.push(strings);
  Request from_views;
  from_views.push(views);
  std::string expected = hiredis_format(strings);
  EXPECT_EQ(from_list.payload(), expected);
  EXPECT_EQ(from_strings.payload(), expected);
  EXPECT_EQ(from_views.payload(), expected);
}

TEST(RequestTest, ChainedPushesCountEachCommand) {
  Request request;
  request.push({"MULTI"}).push({"INCR", "n"}).push({"EXEC"});
  EXPECT_EQ(request.size(), 3u);
  EXPECT_EQ(request.payload(), hiredis_format({"MULTI"}) + hiredis_format({"INCR", "n"}) + hiredis_format({"EXEC"}));
}

TEST(RequestTest, AnEmptyCommandIsRefusedAndChangesNothing) {
  Request request{"PING"};
  const std::string before = request.payload();
  EXPECT_THROW(request.push(std::vector<std::string>{}), InvalidArgumentError);
  EXPECT_THROW(request.push(std::vector<std::string_view>{}), InvalidArgumentError);
  EXPECT_THROW(request.push(std::initializer_list<std::string_view>{}), InvalidArgumentError);
  EXPECT_EQ(request.size(), 1u);
  EXPECT_EQ(request.payload(), before);
}

TEST(RequestTest, ClearEmptiesAndTheRequestCanBeReused) {
  Request request{"GET", "a"};
  request.clear();
  EXPECT_TRUE(request.empty());
  EXPECT_EQ(request.size(), 0u);
  EXPECT_EQ(request.payload(), "");
  request.push({"GET", "b"});
  EXPECT_EQ(request.size(), 1u);
  EXPECT_EQ(request.payload(), hiredis_format({"GET", "b"}));
}

}  // namespace
}  // namespace redis_session
