// Error replies to the store's scripts, classified and turned into the
// contract's error types without a server. The texts are what Redis 6 and 7
// send when a script's HINCRBY fails (the command's error, wrapped).
#include "redis_session/detail/script_error.hpp"

#include <gtest/gtest.h>

#include <string>

#include "redis_session/error.hpp"

namespace redis_session::detail {
namespace {

TEST(ScriptError, Classify) {
  EXPECT_EQ(classify_script_error("RSMETA session hash has no creation time"), ScriptErrorKind::no_metadata);
  EXPECT_EQ(classify_script_error("NOSCRIPT No matching script. Please use EVAL."), ScriptErrorKind::no_script);
  EXPECT_EQ(classify_script_error("ERR hash value is not an integer script: 1a2b, on @user_script:40."),
            ScriptErrorKind::not_an_integer);
  EXPECT_EQ(classify_script_error("ERR Error running script (call to f_1a2b): @user_script:40: ERR hash value is "
                                  "not an integer"),
            ScriptErrorKind::not_an_integer);
  EXPECT_EQ(classify_script_error("ERR increment or decrement would overflow script: 1a2b"), ScriptErrorKind::overflow);
  EXPECT_EQ(classify_script_error("WRONGTYPE Operation against a key holding the wrong kind of value"),
            ScriptErrorKind::other);
  EXPECT_EQ(classify_script_error(""), ScriptErrorKind::other);
  // Only a leading RSMETA / NOSCRIPT is the scripts' own word.
  EXPECT_EQ(classify_script_error("ERR RSMETA"), ScriptErrorKind::other);
  EXPECT_EQ(classify_script_error("ERR NOSCRIPT"), ScriptErrorKind::other);
}

template <class E>
std::string thrown(std::string_view text, std::string_view field = {}) {
  try {
    throw_script_error(text, "app:abcdefghijkl", field);
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "another type for '" << text << "': " << e.what();
  }
  return {};
}

TEST(ScriptError, ThrowsTheContractsTypesWithTheKeyRedacted) {
  std::string m = thrown<DecodeError>("RSMETA session hash has no creation time");
  EXPECT_NE(m.find("app:abcd..."), std::string::npos) << m;
  EXPECT_EQ(m.find("efgh"), std::string::npos) << m;

  m = thrown<SessionStateError>("ERR hash value is not an integer", "count");
  EXPECT_NE(m.find("'count'"), std::string::npos) << m;
  EXPECT_NE(m.find("does not hold an integer"), std::string::npos) << m;
  m = thrown<SessionStateError>("ERR increment or decrement would overflow", "count");
  EXPECT_NE(m.find("would overflow"), std::string::npos) << m;

  m = thrown<ServerError>("WRONGTYPE Operation against a key holding the wrong kind of value");
  EXPECT_NE(m.find("WRONGTYPE"), std::string::npos) << m;
  EXPECT_NE(m.find("app:abcd..."), std::string::npos) << m;
  EXPECT_EQ(m.find("efgh"), std::string::npos) << m;
  try {
    throw_script_error("NOSCRIPT No matching script", "app:x");
  } catch (const ServerError& e) {
    EXPECT_EQ(e.prefix(), "NOSCRIPT");
  }
}

}  // namespace
}  // namespace redis_session::detail
