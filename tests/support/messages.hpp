#pragma once
// What a call threw, as text, for tests that check error messages (what they
// name, and that they never contain a password or a session's contents).

#include <exception>
#include <string>

namespace redis_session::test {

template <class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no exception)";
}

}  // namespace redis_session::test
