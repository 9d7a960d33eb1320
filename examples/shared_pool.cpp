// Two stores, one pool: an application keeping carts and logins in separate
// namespaces shares one bounded set of Redis connections between them
// instead of opening a pool per store. Prints the pool's statistics.
// Usage: shared_pool [redis-url]
#include <redis_session/error.hpp>
#include <redis_session/redis_pool_store.hpp>
#include <redis_session/session_id.hpp>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "example_support.hpp"

namespace {

using example::expect;

void print_stats(const char* when, const redis_session::ConnectionPool& pool) {
  const redis_session::PoolStats s = pool.stats();
  std::cout << when << ": open=" << s.open << " idle=" << s.idle << " in_use=" << s.in_use << " acquires=" << s.acquires
            << " created=" << s.created << " closed=" << s.closed_total() << " timeouts=" << s.timeouts << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  return example::run(argc, argv, [](const std::string& url) {
    using namespace redis_session;
    using namespace std::chrono_literals;
    PoolOptions pool_options;
    pool_options.max_open = 4;  // the whole process's budget of Redis connections
    pool_options.max_idle = 4;
    pool_options.acquire_timeout = 500ms;
    std::shared_ptr<ConnectionPool> pool = make_connection_pool(redis::parse_url(url), pool_options);

    RedisPoolStoreOptions carts_options;
    carts_options.shared_pool = pool;  // url, connection and pool options are then unused
    carts_options.key_namespace = "example:carts";
    carts_options.expiry.idle_timeout = 7 * 24h;  // carts outlive a browser session
    RedisPoolStore carts(carts_options);

    RedisPoolStoreOptions logins_options;
    logins_options.shared_pool = pool;
    logins_options.key_namespace = "example:logins";
    logins_options.expiry.idle_timeout = 30min;
    logins_options.expiry.absolute_lifetime = 12h;
    RedisPoolStore logins(logins_options);

    print_stats("before any request", *pool);

    // Eight threads, both stores, at once: never more than max_open connections.
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 25; ++i) {
          const std::string id = generate_session_id();
          SessionChanges c;
          c.mode = SessionChanges::Mode::create;
          if (t % 2 == 0) {
            c.set["items"] = nlohmann::json::array({"book"});
            carts.save(id, c);
          } else {
            c.set["user"] = "user" + std::to_string(t);
            logins.save(id, c);
            logins.increment(id, "logins", 1, false);
          }
        }
      });
    }
    for (auto& t : threads) t.join();

    print_stats("after 200 requests ", *pool);
    const std::size_t cart_count = carts.count();
    const std::size_t login_count = logins.count();
    std::cout << "carts: " << cart_count << " sessions, logins: " << login_count
              << " sessions (each store sees only its namespace)\n";
    expect(cart_count == 100 && login_count == 100, "each namespace should hold 100 sessions");
    expect(pool->stats().open <= pool_options.max_open, "the stores together stay within max_open");
    expect(&carts.pool() == &logins.pool(), "both stores use the injected pool");

    std::cout << "clear carts -> " << carts.clear() << " destroyed; logins still " << logins.count() << "\n";
    expect(logins.count() == 100, "clearing one namespace leaves the other alone");
    logins.clear();
    print_stats("at the end         ", *pool);
    return 0;
  });
}
