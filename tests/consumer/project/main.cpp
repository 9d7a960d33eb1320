// Uses the public API the way an application would, in C++17, with no server:
// URL parsing, option validation and a typed connect failure.
#include <redis_session/error.hpp>
#include <redis_session/redis/connection.hpp>

#include <iostream>

int main() {
  using namespace redis_session;
  redis::ConnectionOptions options = redis::parse_url("redis://127.0.0.1:1/0");
  options.connect_timeout = std::chrono::milliseconds(500);
  try {
    redis::Connection connection(options);
    std::cerr << "connected to port 1?\n";
    return 1;
  } catch (const ConnectionError& e) {
    std::cout << "typed connect failure as expected: " << e.code() << "\n";
  }
  try {
    redis::parse_url("http://nope");
    return 1;
  } catch (const InvalidOptionsError&) {
  }
  std::cout << "consumer ok\n";
  return 0;
}
