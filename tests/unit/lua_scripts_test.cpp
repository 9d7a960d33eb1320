// The embedded scripts and the argument layout every script call uses.
#include "redis_session/detail/lua_scripts.hpp"

#include <gtest/gtest.h>

#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace redis_session::detail {
namespace {

TEST(LuaScripts, EmbeddedWithPreludeAndNoCommentLines) {
  for (std::size_t i = 0; i < script_count; ++i) {
    const LuaScript* s = &script(static_cast<Script>(i));
    EXPECT_EQ(s->source.rfind("local key = KEYS[1]\n", 0), 0u) << s->name;
    EXPECT_EQ(s->source.find("\n--"), std::string::npos) << s->name;
    EXPECT_EQ(s->source.back(), '\n') << s->name;
    ASSERT_EQ(s->sha.size(), 40u) << s->name;
    EXPECT_EQ(s->sha.find_first_not_of("0123456789abcdef"), std::string::npos) << s->name;
  }
  EXPECT_NE(script(Script::save).sha, script(Script::load).sha);
  EXPECT_STREQ(script(Script::export_hash).name, "export");
  EXPECT_STREQ(script(Script::import_hash).name, "import");
}

// ScriptArgs keeps views: a temporary string must not compile as an
// argument, a named one and a literal must.
template <class Arg, class = void>
struct can_add : std::false_type {};
template <class Arg>
struct can_add<Arg, std::void_t<decltype(std::declval<ScriptArgs&>().add(std::declval<Arg>()))>> : std::true_type {};
static_assert(!can_add<std::string>::value, "a temporary std::string would dangle");
static_assert(can_add<std::string&>::value);
static_assert(can_add<const std::string&>::value);
static_assert(can_add<const char (&)[2]>::value);
static_assert(can_add<std::string_view>::value);

TEST(LuaScripts, ArgsLayout) {
  ScriptArgs one({"ns:a"}, "1000", "0", 2);
  one.add("u").add("3");
  const LuaScript& s = script(Script::save);
  EXPECT_EQ(one.command(s, false),
            (std::vector<std::string_view>{"EVALSHA", s.sha, "1", "ns:a", "1000", "0", "u", "3"}));
  EXPECT_EQ(one.command(s, true),
            (std::vector<std::string_view>{"EVAL", s.source, "1", "ns:a", "1000", "0", "u", "3"}));
  ScriptArgs two({"ns:a", "ns:b"}, "5", "7");
  EXPECT_EQ(two.command(s, false), (std::vector<std::string_view>{"EVALSHA", s.sha, "2", "ns:a", "ns:b", "5", "7"}));
}

}  // namespace
}  // namespace redis_session::detail
