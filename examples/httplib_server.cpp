// The smallest web app with sessions: cpp-httplib and the httplib adapter.
//   GET /count    adds one to the session's counter and returns it
//   GET /session  the session's fields as JSON
// Usage: httplib_server [--listen HOST:PORT] [--redis URL]
//        (defaults 127.0.0.1:8081 and redis://127.0.0.1:6379/0; port 0: any free port)
#include <httplib.h>
#include <pthread.h>
#include <signal.h>
#include <redis_session/adapters/httplib.hpp>
#include <redis_session/error.hpp>
#include <redis_session/redis_pool_store.hpp>

#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

namespace {

constexpr const char* usage = "usage: httplib_server [--listen HOST:PORT] [--redis URL]\n";

}  // namespace

int main(int argc, char** argv) {
  namespace rs = redis_session;
  std::string host = "127.0.0.1";
  int port = 8081;
  std::string url = "redis://127.0.0.1:6379/0";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if ((arg == "--listen" || arg == "--redis") && i + 1 < argc) {
      const std::string value = argv[++i];
      if (arg == "--redis") {
        url = value;
        continue;
      }
      const auto colon = value.rfind(':');
      try {
        if (colon == std::string::npos) throw std::invalid_argument("no port");
        std::size_t used = 0;
        port = std::stoi(value.substr(colon + 1), &used);
        if (used != value.size() - colon - 1 || port < 0 || port > 65535) throw std::invalid_argument("bad port");
      } catch (const std::exception&) {
        std::cerr << "httplib_server: --listen wants HOST:PORT\n" << usage;
        return 2;
      }
      host = value.substr(0, colon);
    } else {
      std::cerr << "httplib_server: bad argument '" << arg << "'\n" << usage;
      return 2;
    }
  }

  // SIGINT/SIGTERM are taken by a thread of our own (sigwait) so that
  // stopping the server happens outside a signal handler. Blocked before any
  // other thread starts, so every thread inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::shared_ptr<rs::RedisPoolStore> store;
  try {
    rs::RedisPoolStoreOptions options;
    options.url = url;
    options.key_namespace = "example:httplib";
    store = std::make_shared<rs::RedisPoolStore>(std::move(options));
  } catch (const rs::InvalidOptionsError& e) {
    std::cerr << "httplib_server: " << e.what() << "\n" << usage;
    return 2;
  }
  rs::SessionManager manager(store);

  httplib::Server server;
  server.Get("/count", [&](const httplib::Request& req, httplib::Response& res) {
    try {
      rs::Session session = rs::adapters::httplib::open(manager, req);
      res.set_content(std::to_string(session.increment("count")), "text/plain");
      rs::adapters::httplib::commit(manager, session, res);
    } catch (const rs::Error& e) {
      res.headers.clear();  // a Set-Cookie of a failed request must not go out
      rs::adapters::httplib::fail(res, e);  // 4xx for bad input, 503 for a store failure
    }
  });
  server.Get("/session", [&](const httplib::Request& req, httplib::Response& res) {
    try {
      rs::Session session = rs::adapters::httplib::open(manager, req);
      nlohmann::json fields = nlohmann::json::object();
      for (const auto& [name, value] : session.fields()) fields[name] = value;
      res.set_content(fields.dump(), "application/json");
      rs::adapters::httplib::commit(manager, session, res);
    } catch (const rs::Error& e) {
      res.headers.clear();
      rs::adapters::httplib::fail(res, e);  // 4xx for bad input, 503 for a store failure
    }
  });

  const int bound = port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
  if (bound < 0) {
    std::cerr << "httplib_server: cannot listen on " << host << ":" << port << "\n";
    return 1;
  }
  const std::string base = "http://" + host + ":" + std::to_string(bound);
  std::cout << "httplib_server listening on " << base << "\n"
            << "  curl -s -c /tmp/jar -b /tmp/jar " << base << "/count\n"
            << "  curl -s -c /tmp/jar -b /tmp/jar " << base << "/session" << std::endl;

  std::thread stopper([&] {
    int signal = 0;
    sigwait(&stop_signals, &signal);
    server.stop();
  });
  server.listen_after_bind();
  if (stopper.joinable()) {
    // listen ended without a signal (an error): wake the waiting thread.
    pthread_kill(stopper.native_handle(), SIGTERM);
    stopper.join();
  }
  return 0;
}
