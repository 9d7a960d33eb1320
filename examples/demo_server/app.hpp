#pragma once
// The demo's routes. Every session route opens the session from the Cookie
// header through redis_session::adapters::beast::open and commits it
// (Set-Cookie when the id is new, rotated or destroyed) through
// adapters::beast::commit; a store failure becomes a 503, never a crash and
// never a silent 200.
//
// Thread safety: handle() may be called from any number of threads at once
// (it keeps no state apart from the store and an atomic error counter).
// Lifetime: the store outlives the App.

#include <boost/beast/http.hpp>
#include <redis_session/redis_pool_store.hpp>
#include <redis_session/session_manager.hpp>
#include <redis_session/session_store.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>

namespace demo {

namespace rs = redis_session;
namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

class App {
 public:
  // `redis` is the store again when it is a RedisPoolStore (for /metrics), else null.
  App(std::shared_ptr<rs::SessionStore> store, rs::RedisPoolStore* redis, rs::SessionManagerOptions options)
      : store_(store), redis_(redis), manager_(store, std::move(options)) {}

  void handle(const Request& req, Response& res);

 private:
  void count(const Request& req, Response& res);
  void show_session(const Request& req, Response& res);
  void change_field(const Request& req, Response& res, std::string_view encoded);
  void login(const Request& req, Response& res, std::string_view query);
  void logout(const Request& req, Response& res);
  void healthz(Response& res);
  void metrics(Response& res);
  void page(Response& res);

  std::shared_ptr<rs::SessionStore> store_;
  rs::RedisPoolStore* redis_;  // null for the memory store
  rs::SessionManager manager_;
  std::atomic<std::uint64_t> store_errors_{0};
};

}  // namespace demo
