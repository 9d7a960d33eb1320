#pragma once
// What a call threw, as text, for tests that check error messages (what they
// name, and that they never contain a password or a session's contents).

#include <exception>
#include <string>

namespace redis_session::test {

inline constexpr const char* no_exception = "(no exception)";

// With E, only an E is caught: any other exception goes on to fail the test.
template <class E = std::exception, class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return no_exception;
}

}  // namespace redis_session::test
