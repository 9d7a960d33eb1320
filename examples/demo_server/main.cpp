// The full demo server: sessions over HTTP with Boost.Beast, on Redis or in
// memory, with every route the security, HTTP-edge and browser tests and
// the HTTP benchmark exercise. (The example to copy from is
// examples/session_demo.cpp; this is the server those tests attack.)
//
//   demo_server [--listen HOST:PORT] [--redis URL] [--store redis|memory]
//               [--threads N] [--namespace NS] [--idle-timeout SECONDS]
//               [--absolute-lifetime SECONDS] [--secure-cookies]
//
// Routes: GET / (a page with buttons), GET /plain (no session: the benchmark
// baseline), GET /count, GET /session, PUT and DELETE /session/{field},
// POST /login?user=NAME, POST /logout, GET /healthz, GET /metrics.
//
// Threading: one io_context run by --threads threads; each connection's
// handlers run on its own strand. Store calls block the thread that makes
// them, so the pool is sized to at least one connection per thread.
#include <boost/asio/signal_set.hpp>
#include <redis_session/error.hpp>
#include <redis_session/memory_store.hpp>
#include <redis_session/redis/options.hpp>
#include <redis_session/redis_pool_store.hpp>
#include <redis_session/session_manager.hpp>

#include <algorithm>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "app.hpp"
#include "http_server.hpp"
#include "options.hpp"

namespace demo {
namespace {

int run(const Config& config) {
  rs::ExpiryOptions expiry;
  if (config.idle_timeout) expiry.idle_timeout = *config.idle_timeout;
  if (config.absolute_lifetime) expiry.absolute_lifetime = *config.absolute_lifetime;

  std::shared_ptr<rs::SessionStore> store;
  rs::RedisPoolStore* redis = nullptr;
  std::string store_description;
  try {
    if (config.memory_store) {
      rs::MemoryStoreOptions options;
      options.expiry = expiry;
      store = std::make_shared<rs::MemoryStore>(options);
      store_description = "memory";
    } else {
      rs::RedisPoolStoreOptions options;
      options.url = config.redis_url;
      options.key_namespace = config.key_namespace;
      options.expiry = expiry;
      // Each worker thread blocks on at most one store call at a time; keep
      // that many connections warm so a busy server never closes and reopens.
      options.pool.max_open = std::max<std::size_t>(8, config.threads);
      options.pool.max_idle = options.pool.max_open;
      auto redis_store = std::make_shared<rs::RedisPoolStore>(std::move(options));
      redis = redis_store.get();
      store = std::move(redis_store);
      store_description = "redis " + redacted(config.redis_url) + ", namespace " + config.key_namespace;
    }
  } catch (const rs::InvalidOptionsError& e) {
    std::cerr << "demo_server: " << e.what() << "\n" << usage_text;
    return 2;
  }

  rs::SessionManagerOptions manager_options;
  manager_options.cookie.secure = config.secure_cookies;
  App app(store, redis, manager_options);

  net::io_context ioc(static_cast<int>(config.threads));
  tcp::acceptor acceptor(ioc);
  tcp::endpoint endpoint;
  try {
    endpoint = tcp::endpoint(net::ip::make_address(config.listen_host), config.listen_port);
  } catch (const std::exception&) {
    std::cerr << "demo_server: --listen wants a numeric IP address, got '" << config.listen_host << "'\n" << usage_text;
    return 2;
  }
  try {
    acceptor.open(endpoint.protocol());
    acceptor.set_option(net::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(net::socket_base::max_listen_connections);
  } catch (const boost::system::system_error& e) {
    std::cerr << "demo_server: cannot listen on " << endpoint << ": " << e.code().message() << "\n";
    return 1;
  }
  const tcp::endpoint bound = acceptor.local_endpoint();
  const std::string host =
      bound.address().is_v6() ? "[" + bound.address().to_string() + "]" : bound.address().to_string();
  const std::string url = "http://" + host + ":" + std::to_string(bound.port());

  Listener listener(ioc, acceptor, app);
  listener.accept();
  net::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](beast::error_code, int) {
    // Stop taking connections, then stop the workers after the requests in
    // progress (a store call in flight finishes first).
    beast::error_code ignored;
    acceptor.close(ignored);
    ioc.stop();
  });

  std::cout << "demo_server listening on " << url << " (store: " << store_description << ", " << config.threads
            << " threads)\n"
            << "  open " << url << "/ in a browser, or try:\n"
            << "  curl -s -c /tmp/jar -b /tmp/jar " << url << "/count\n"
            << "  curl -s -c /tmp/jar -b /tmp/jar -X PUT -d '\"blue\"' " << url << "/session/color\n"
            << "  curl -s -c /tmp/jar -b /tmp/jar " << url << "/session\n"
            << "  curl -s -c /tmp/jar -b /tmp/jar -X POST '" << url << "/login?user=ann'\n"
            << "  curl -s " << url << "/metrics\n"
            << "Ctrl-C stops it." << std::endl;

  std::vector<std::thread> workers;
  workers.reserve(config.threads - 1);
  for (unsigned i = 1; i < config.threads; ++i) workers.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : workers) t.join();
  std::cout << "demo_server stopped" << std::endl;
  return 0;
}

}  // namespace
}  // namespace demo

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--help" || std::string_view(argv[i]) == "-h") {
      std::cout << demo::usage_text;
      return 0;
    }
  }
  demo::Config config;
  try {
    config = demo::parse_args(argc, argv);
  } catch (const demo::UsageError& e) {
    std::cerr << "demo_server: " << e.message << "\n" << demo::usage_text;
    return 2;
  }
  try {
    return demo::run(config);
  } catch (const std::exception& e) {
    std::cerr << "demo_server: " << e.what() << "\n";
    return 1;
  }
}
