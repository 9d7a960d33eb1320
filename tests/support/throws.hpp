#pragma once
// A gtest predicate for tests that check which error a call reports: the
// exception type, its code, and what its message names.

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "redis_session/error.hpp"

namespace redis_session::test {

// Passes when `action` throws E with code `code` and a message that
// mentions `cause`.
template <class E, class Action>
testing::AssertionResult throws_error(Action&& action, Errc code, std::string_view cause) {
  try {
    action();
  } catch (const E& e) {
    std::string what = e.what();
    if (e.errc() != code) return testing::AssertionFailure() << "wrong code for: " << what;
    if (what.find(cause) == std::string::npos) {
      return testing::AssertionFailure() << "message \"" << what << "\" does not mention \"" << cause << "\"";
    }
    return testing::AssertionSuccess();
  }
  return testing::AssertionFailure() << "nothing thrown, expected: " << make_error_code(code).message();
}

}  // namespace redis_session::test
