// Unit tests for the error types and the error category in error.hpp. No
// server needed.

#include <gtest/gtest.h>

#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>

#include "redis_session/error.hpp"

namespace redis_session {
namespace {

TEST(ErrorCategory, NameAndMessages) {
  std::error_code ec = make_error_code(Errc::pool_timeout);
  EXPECT_STREQ(ec.category().name(), "redis_session");
  EXPECT_EQ(&ec.category(), &error_category());
  EXPECT_EQ(ec.value(), 1);
  EXPECT_FALSE(ec.message().empty());

  const std::string unknown = error_category().message(0);
  std::set<std::string> messages;
  for (int v = static_cast<int>(Errc::pool_timeout); v <= static_cast<int>(Errc::invalid_argument); ++v) {
    std::string message = make_error_code(static_cast<Errc>(v)).message();
    EXPECT_FALSE(message.empty()) << v;
    EXPECT_NE(message, unknown) << v;
    messages.insert(message);
  }
  EXPECT_EQ(messages.size(), 12u) << "every code has its own message";
  EXPECT_EQ(error_category().message(999), unknown);
}

TEST(ErrorCategory, ErrcConvertsImplicitlyToErrorCode) {
  std::error_code ec = Errc::timeout;
  EXPECT_EQ(ec, make_error_code(Errc::timeout));
  EXPECT_NE(ec, make_error_code(Errc::io_error));
  EXPECT_NE(ec, std::make_error_code(std::errc::timed_out)) << "a different category";
}

// Throws `e`, catches it as Error, and checks its code and message.
template <class E>
void expect_code(const E& e, Errc code) {
  try {
    throw e;
  } catch (const Error& caught) {
    EXPECT_EQ(caught.errc(), code) << caught.what();
    EXPECT_EQ(caught.code(), make_error_code(code)) << caught.what();
    EXPECT_STREQ(caught.what(), "what happened");
  }
}

TEST(ErrorTypes, EachKindCarriesItsCode) {
  expect_code(InvalidOptionsError("what happened"), Errc::invalid_options);
  expect_code(PoolTimeoutError("what happened"), Errc::pool_timeout);
  expect_code(PoolClosedError("what happened"), Errc::pool_closed);
  expect_code(ConnectError("what happened"), Errc::connect_failed);
  expect_code(AuthError("what happened"), Errc::auth_failed);
  expect_code(TimeoutError("what happened"), Errc::timeout);
  expect_code(IoError("what happened"), Errc::io_error);
  expect_code(ProtocolError("what happened"), Errc::protocol_error);
  expect_code(ServerError("what happened"), Errc::server_error);
  expect_code(DecodeError("what happened"), Errc::decode_error);
  expect_code(ValueTooLargeError("what happened"), Errc::value_too_large);
  expect_code(InvalidArgumentError("what happened"), Errc::invalid_argument);
  expect_code(SessionStateError("what happened"), Errc::invalid_argument);
}

// A request's own mistake is neither a configuration error nor a store
// failure: a handler that answers 503 to every ConnectionError, or 500 to
// InvalidOptionsError, must not catch it.
TEST(ErrorTypes, ClientMistakesAreApartFromConfigurationAndStoreFailures) {
  static_assert(!std::is_base_of_v<InvalidOptionsError, InvalidArgumentError>);
  static_assert(!std::is_base_of_v<ConnectionError, InvalidArgumentError>);
  static_assert(std::is_base_of_v<InvalidArgumentError, SessionStateError>);
  EXPECT_THROW(throw SessionStateError("s"), InvalidArgumentError);
  EXPECT_THROW(throw InvalidArgumentError("a"), Error);
  EXPECT_NE(make_error_code(Errc::invalid_argument), make_error_code(Errc::invalid_options));
}

TEST(ErrorTypes, AuthErrorIsCaughtAsEveryBase) {
  auto thrower = [] { throw AuthError("bad password for h:1"); };
  EXPECT_THROW(thrower(), AuthError);
  EXPECT_THROW(thrower(), ConnectError);
  EXPECT_THROW(thrower(), ConnectionError);
  EXPECT_THROW(thrower(), Error);
  EXPECT_THROW(thrower(), std::runtime_error);
}

TEST(ErrorTypes, KindsBelongToTheirFamilies) {
  EXPECT_THROW(throw TimeoutError("t"), ConnectionError);
  EXPECT_THROW(throw IoError("i"), ConnectionError);
  EXPECT_THROW(throw ProtocolError("p"), ConnectionError);
  EXPECT_THROW(throw PoolTimeoutError("t"), PoolError);
  EXPECT_THROW(throw PoolClosedError("c"), PoolError);

  // A server error reply or a pool timeout is not a broken connection.
  EXPECT_FALSE((std::is_base_of_v<ConnectionError, ServerError>));
  EXPECT_FALSE((std::is_base_of_v<ConnectionError, PoolError>));
  EXPECT_FALSE((std::is_base_of_v<ConnectError, TimeoutError>));
  EXPECT_FALSE((std::is_base_of_v<ConnectionError, InvalidOptionsError>));
}

TEST(ServerErrorTest, PrefixIsTheFirstWord) {
  ServerError plain("WRONGTYPE Operation against a key holding the wrong kind of value");
  EXPECT_EQ(plain.prefix(), "WRONGTYPE");
  EXPECT_STREQ(plain.what(), "WRONGTYPE Operation against a key holding the wrong kind of value");

  ServerError with_context("NOSCRIPT No matching script", "EVALSHA on h:6379");
  EXPECT_EQ(with_context.prefix(), "NOSCRIPT");
  EXPECT_STREQ(with_context.what(), "EVALSHA on h:6379: NOSCRIPT No matching script");

  EXPECT_EQ(ServerError("LOADING").prefix(), "LOADING");
  EXPECT_EQ(ServerError("").prefix(), "");
}

}  // namespace
}  // namespace redis_session
