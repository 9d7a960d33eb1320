// The connection layer on its own: connect by URL, run a command, run a
// pipeline, and see a typed error. Usage: basic_connection [redis-url]
#include <redis_session/error.hpp>
#include <redis_session/redis/connection.hpp>

#include <iostream>

#include "example_support.hpp"

int main(int argc, char** argv) {
  return example::run(argc, argv, [](const std::string& url) {
    using namespace redis_session;
    redis::Connection conn(redis::parse_url(url));
    std::cout << "connected to " << conn.endpoint() << "\n";

    conn.command({"SET", "example:greeting", "hello from redis_session"});
    std::cout << "GET example:greeting -> " << conn.command({"GET", "example:greeting"}).str << "\n";

    // Three commands, one write, one round trip.
    redis::Request pipeline;
    pipeline.push({"INCR", "example:visits"}).push({"EXPIRE", "example:visits", "60"}).push({"TTL", "example:visits"});
    auto replies = conn.execute(pipeline);
    std::cout << "visits=" << replies[0].integer << " ttl=" << replies[2].integer << "s\n";

    try {
      conn.command({"HGET", "example:greeting", "field"});  // wrong type
    } catch (const ServerError& e) {
      std::cout << "typed server error: " << e.prefix() << "\n";
    }
    return 0;
  });
}
