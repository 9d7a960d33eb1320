// The hand-written limit for the end-to-end benchmark (tests/bench/http_bench.sh):
// a Boost.Beast server with demo_server's GET /plain, /session and /count,
// the same cookie, the same keys and hash layout and the same increment
// script, each route doing the least Redis work a hand-written server can
// (the fewest round trips, table below), written the smallest way: one
// blocking hiredis context per thread, none of the library but its script
// texts and id generator. A baseline, not a product: no TLS, no pool, no
// retries, no codec (stored values already are JSON text and go out as they are).
//
//   http_reference [--listen HOST:PORT] [--redis redis://[:password@]host[:port][/db]]
//                  [--threads N] [--self-test]
//
// Threading is demo_server's: one io_context run by --threads threads, each
// connection on its own strand, the same timeouts; so demo / reference
// measures the library and nothing else. --self-test serves, checks the
// routes once over HTTP (ctest), and exits.
//
// Per request (demo_server's defaults: idle timeout 24 h, no absolute lifetime):
//   /plain     nothing
//   /session   a well-formed cookie: HGETALL + PEXPIRE pipelined (1 round trip); body: the fields as JSON
//   /count     1 round trip: EVALSHA of the increment script, which does HINCRBY and slides the
//              expiry itself. A well-formed cookie: create '0' (no load first); a nil answer (the
//              session is gone) draws a new id and runs it with create '1' (1 more), and sets the
//              cookie. No cookie: a new id, create '1', the cookie.
#include <hiredis/hiredis.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

// The text of the store's Lua scripts (src/store/scripts/*.lua, compiled in
// through the redis_session_scripts objects: a table of strings, no store
// code runs), so both servers run the very same increment script, whatever it
// becomes.
#include "redis_session/detail/lua_scripts.hpp"
#include "redis_session/session_id.hpp"

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

constexpr std::chrono::seconds io_timeout{30};
constexpr std::string_view idle_ms = "86400000";  // RedisPoolStore's default idle timeout
constexpr std::string_view cookie_attributes = "; Path=/; HttpOnly; SameSite=Lax";

struct Config {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 8081;
  std::string redis_host = "127.0.0.1";
  int redis_port = 6379;
  std::string redis_password;
  std::string redis_db = "0";
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  bool self_test = false;
};

// ------------------------------------------------------------------ Redis

struct StoreError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct ReplyPtr {
  redisReply* r = nullptr;
  ReplyPtr() = default;
  explicit ReplyPtr(redisReply* reply) : r(reply) {}
  ReplyPtr(ReplyPtr&& o) noexcept : r(std::exchange(o.r, nullptr)) {}
  ReplyPtr& operator=(ReplyPtr&& o) noexcept {
    std::swap(r, o.r);
    return *this;
  }
  ~ReplyPtr() {
    if (r != nullptr) freeReplyObject(r);
  }
  redisReply* operator->() const { return r; }
};

// One blocking hiredis context per worker thread, opened on first use and
// dropped after any error (the next request opens a new one).
class ThreadRedis {
 public:
  static ThreadRedis& get(const Config& config) {
    thread_local ThreadRedis instance;
    if (instance.c_ == nullptr) instance.connect(config);
    return instance;
  }
  ~ThreadRedis() { reset(); }

  void append(std::initializer_list<std::string_view> args) {
    const char* argv[12];
    std::size_t lens[12];
    int n = 0;
    for (std::string_view a : args) {
      argv[n] = a.data();
      lens[n++] = a.size();
    }
    if (redisAppendCommandArgv(c_, n, argv, lens) != REDIS_OK) fail();
  }
  ReplyPtr reply() {
    void* r = nullptr;
    if (redisGetReply(c_, &r) != REDIS_OK || r == nullptr) fail();
    return ReplyPtr(static_cast<redisReply*>(r));
  }

 private:
  void connect(const Config& config) {
    timeval connect_timeout{2, 0};
    c_ = redisConnectWithTimeout(config.redis_host.c_str(), config.redis_port, connect_timeout);
    if (c_ == nullptr || c_->err != 0) fail();
    timeval command_timeout{1, 0};
    redisSetTimeout(c_, command_timeout);
    if (!config.redis_password.empty()) check(command({"AUTH", config.redis_password}));
    if (config.redis_db != "0") check(command({"SELECT", config.redis_db}));
  }
  ReplyPtr command(std::initializer_list<std::string_view> args) {
    append(args);
    return reply();
  }
  void check(const ReplyPtr& r) {
    if (r->type == REDIS_REPLY_ERROR) {
      reset();
      throw StoreError(std::string("redis: ") + r->str);
    }
  }
  [[noreturn]] void fail() {
    std::string why = c_ == nullptr ? "out of memory" : c_->errstr;
    reset();
    throw StoreError("redis: " + why);
  }
  void reset() {
    if (c_ != nullptr) redisFree(c_);
    c_ = nullptr;
  }
  redisContext* c_ = nullptr;
};

// ------------------------------------------------------------------ sessions

// Ids are the library's (src/session_id.cpp is compiled in): the same
// generator and the same shape check, so both servers spend the same on them.

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The well-formed sid of the request; none when absent, malformed or ambiguous.
std::string_view cookie_id(const Request& req) {
  std::string_view found;
  auto [first, last] = req.base().equal_range(http::field::cookie);
  for (auto it = first; it != last; ++it) {
    std::string_view header(it->value().data(), it->value().size());
    while (!header.empty()) {
      const auto semi = header.find(';');
      std::string_view pair = trim(header.substr(0, semi));
      header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
      const auto eq = pair.find('=');
      if (eq == std::string_view::npos || trim(pair.substr(0, eq)) != "sid") continue;
      std::string_view value = trim(pair.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
      if (!redis_session::is_valid_session_id(value)) continue;
      if (!found.empty() && found != value) return {};
      found = value;
    }
  }
  return found;
}

// HGETALL + PEXPIRE in one round trip; the hash, empty when there is none.
ReplyPtr load(ThreadRedis& redis, std::string_view key) {
  redis.append({"HGETALL", key});
  redis.append({"PEXPIRE", key, idle_ms});
  ReplyPtr hash = redis.reply();
  redis.reply();
  if (hash->type != REDIS_REPLY_ARRAY) throw StoreError("redis: HGETALL did not answer an array");
  return hash;
}

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out.append(buf);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

// ------------------------------------------------------------------ routes

void text(Response& res, std::string body, const char* type = "text/plain; charset=utf-8") {
  res.result(http::status::ok);
  res.set(http::field::content_type, type);
  res.body() = std::move(body);
}

void show_session(const Config& config, const Request& req, Response& res) {
  std::string body = "{}";
  if (std::string_view id = cookie_id(req); !id.empty()) {
    std::string key = "session:" + std::string(id);
    ReplyPtr hash = load(ThreadRedis::get(config), key);
    // Fields in name order, the metadata ("\0c") left out; values are JSON
    // text already (integers as decimal text, the rest as the codec wrote them).
    std::vector<std::pair<std::string_view, std::string_view>> fields;
    for (std::size_t i = 0; i + 1 < hash->elements; i += 2) {
      std::string_view name(hash->element[i]->str, hash->element[i]->len);
      if (!name.empty() && name.front() == '\0') continue;
      fields.emplace_back(name, std::string_view(hash->element[i + 1]->str, hash->element[i + 1]->len));
    }
    std::sort(fields.begin(), fields.end());
    body = "{";
    for (const auto& [name, value] : fields) {
      if (body.size() > 1) body.push_back(',');
      append_json_string(body, name);
      body.push_back(':');
      body.append(value);
    }
    body.push_back('}');
  }
  text(res, std::move(body), "application/json");
  res.set(http::field::cache_control, "no-store");
}

// One EVALSHA: the script increments, creates the key when told to and slides
// the expiry, so nothing needs loading first. A cookie is trusted to name a
// live session (create '0'); the script answers nil when it does not, and the
// count goes to a new session under a new id, as Session::increment does.
void count(const Config& config, const Request& req, Response& res) {
  ThreadRedis& redis = ThreadRedis::get(config);
  std::string id(cookie_id(req));
  bool create = id.empty();
  const auto& script = redis_session::detail::script(redis_session::detail::Script::increment);
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (create) id = redis_session::generate_session_id();
    const std::string key = "session:" + id;
    const std::string_view create_arg = create ? "1" : "0";
    redis.append({"EVALSHA", script.sha, "1", key, idle_ms, "0", "count", "1", create_arg});
    ReplyPtr r = redis.reply();
    if (r->type == REDIS_REPLY_ERROR && std::string_view(r->str, r->len).rfind("NOSCRIPT", 0) == 0) {
      redis.append({"EVAL", script.source, "1", key, idle_ms, "0", "count", "1", create_arg});
      r = redis.reply();
    }
    if (r->type == REDIS_REPLY_NIL) {  // gone (expired, destroyed) or never there: a new session
      create = true;
      continue;
    }
    if (r->type != REDIS_REPLY_STRING) throw StoreError("redis: unexpected reply to the increment script");
    text(res, std::string(r->str, r->len));
    res.set(http::field::cache_control, "no-store");
    if (create) res.set(http::field::set_cookie, "sid=" + id + std::string(cookie_attributes));
    return;
  }
  throw StoreError("increment kept finding its session gone");
}

void handle(const Config& config, const Request& req, Response& res) {
  const std::string_view target(req.target().data(), req.target().size());
  const std::string_view path = target.substr(0, target.find('?'));
  try {
    if (req.method() != http::verb::get) {
      res.result(http::status::method_not_allowed);
    } else if (path == "/plain") {
      text(res, "ok");
    } else if (path == "/session") {
      show_session(config, req, res);
    } else if (path == "/count") {
      count(config, req, res);
    } else {
      res.result(http::status::not_found);
    }
  } catch (const StoreError& e) {
    res.base().clear();
    res.result(http::status::service_unavailable);
    res.set(http::field::content_type, "text/plain");
    res.body() = std::string(e.what()) + "\n";
  }
}

// ------------------------------------------------------------------ HTTP

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket&& socket, const Config& config) : stream_(std::move(socket)), config_(config) {}

  void start() {
    net::dispatch(stream_.get_executor(), beast::bind_front_handler(&Connection::read, shared_from_this()));
  }

 private:
  void read() {
    req_ = {};
    stream_.expires_after(io_timeout);
    http::async_read(stream_, buffer_, req_, beast::bind_front_handler(&Connection::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec) return stream_.close();
    res_ = {};
    res_.version(req_.version());
    handle(config_, req_, res_);
    res_.keep_alive(req_.keep_alive());
    res_.prepare_payload();
    http::async_write(stream_, res_, beast::bind_front_handler(&Connection::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t) {
    if (ec || !res_.keep_alive()) {
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
      return;
    }
    read();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  Request req_;
  Response res_;
  const Config& config_;
};

void accept(net::io_context& ioc, tcp::acceptor& acceptor, const Config& config) {
  acceptor.async_accept(net::make_strand(ioc), [&](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted) return;
    if (!ec) {
      socket.set_option(tcp::no_delay(true), ec);
      std::make_shared<Connection>(std::move(socket), config)->start();
    }
    accept(ioc, acceptor, config);
  });
}

// ------------------------------------------------------------------ self test

// The routes once, over one keep-alive connection; true when all answer right.
bool self_test(const tcp::endpoint& endpoint) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.connect(endpoint);
  bool ok = true;
  auto get = [&](const char* target, const std::string& cookie) {
    Request req{http::verb::get, target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (!cookie.empty()) req.set(http::field::cookie, cookie);
    http::write(stream, req);
    beast::flat_buffer buffer;
    Response res;
    http::read(stream, buffer, res);
    return res;
  };
  auto expect = [&](bool good, const std::string& what) {
    std::cout << (good ? "ok   " : "FAIL ") << what << "\n";
    ok = ok && good;
  };
  Response plain = get("/plain", "");
  expect(plain.result() == http::status::ok && plain.body() == "ok", "GET /plain answers ok");
  Response first = get("/count", "");
  const std::string set_cookie(first[http::field::set_cookie]);
  expect(first.body() == "1" && set_cookie.rfind("sid=", 0) == 0 &&
             set_cookie.find("; Path=/; HttpOnly; SameSite=Lax") == 26,
         "GET /count without a cookie answers 1 and sets the cookie (" + set_cookie + ")");
  const std::string cookie = set_cookie.substr(0, 26);
  Response second = get("/count", cookie);
  expect(second.body() == "2" && second[http::field::set_cookie].empty(),
         "GET /count with it answers 2 and sets no cookie (" + second.body() + ")");
  // A well-formed id with no session behind it (expired, destroyed): the
  // script's nil, then the count starts over under a new id.
  const std::string unknown_id = redis_session::generate_session_id();
  Response gone = get("/count", "sid=" + unknown_id);
  const std::string gone_cookie(gone[http::field::set_cookie]);
  expect(gone.body() == "1" && gone_cookie.rfind("sid=", 0) == 0 && gone_cookie.size() > 26 &&
             gone_cookie.substr(4, 22) != unknown_id,
         "GET /count with an unknown id answers 1 under a new id and sets its cookie (" + gone_cookie + ")");
  Response session = get("/session", cookie);
  expect(session.body() == R"({"count":2})", "GET /session shows the session (" + session.body() + ")");
  Response unknown = get("/session", "sid=" + unknown_id);
  expect(unknown.body() == "{}" && unknown[http::field::set_cookie].empty(),
         "GET /session with that unknown id answers {}: the count went elsewhere (" + unknown.body() + ")");
  Response none = get("/session", "");
  expect(none.body() == "{}", "GET /session without a cookie answers {}");
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  return ok;
}

// ------------------------------------------------------------------ main

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "http_reference: " << why
            << "\nusage: http_reference [--listen HOST:PORT] [--redis redis://[:password@]host[:port][/db]] "
               "[--threads N] [--self-test]\n";
  std::exit(2);
}

void parse_redis_url(std::string_view url, Config& config) {
  if (url.rfind("redis://", 0) != 0) usage("--redis wants redis://[:password@]host[:port][/db]");
  url.remove_prefix(8);
  if (auto slash = url.find('/'); slash != std::string_view::npos) {
    config.redis_db = std::string(url.substr(slash + 1));
    if (config.redis_db.empty()) config.redis_db = "0";
    url = url.substr(0, slash);
  }
  if (auto at = url.rfind('@'); at != std::string_view::npos) {
    std::string_view credentials = url.substr(0, at);
    config.redis_password = std::string(credentials.substr(credentials.find(':') + 1));
    url = url.substr(at + 1);
  }
  if (auto colon = url.rfind(':'); colon != std::string_view::npos) {
    config.redis_port = std::stoi(std::string(url.substr(colon + 1)));
    url = url.substr(0, colon);
  }
  if (!url.empty()) config.redis_host = std::string(url);
}

Config parse_args(int argc, char** argv) {
  Config config;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) usage(std::string(arg) + " needs a value");
      return argv[++i];
    };
    if (arg == "--listen") {
      std::string_view v = value();
      const auto colon = v.rfind(':');
      if (colon == std::string_view::npos) usage("--listen wants HOST:PORT");
      config.listen_host = std::string(v.substr(0, colon));
      config.listen_port = static_cast<std::uint16_t>(std::stoi(std::string(v.substr(colon + 1))));
    } else if (arg == "--redis") {
      parse_redis_url(value(), config);
    } else if (arg == "--threads") {
      config.threads = static_cast<unsigned>(std::stoi(std::string(value())));
      if (config.threads < 1 || config.threads > 1024) usage("--threads wants 1 to 1024");
    } else if (arg == "--self-test") {
      config.self_test = true;
    } else {
      usage("unknown argument '" + std::string(arg) + "'");
    }
  }
  return config;
}

}  // namespace

int main(int argc, char** argv) {
  const Config config = parse_args(argc, argv);
  try {
    ThreadRedis::get(config);  // fail early when Redis is not there
  } catch (const StoreError& e) {
    std::cerr << "http_reference: " << e.what() << "\n";
    return 1;
  }

  net::io_context ioc(static_cast<int>(config.threads));
  tcp::acceptor acceptor(ioc, tcp::endpoint(net::ip::make_address(config.listen_host), config.listen_port));
  const tcp::endpoint bound = acceptor.local_endpoint();
  accept(ioc, acceptor, config);
  net::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](beast::error_code, int) {
    beast::error_code ignored;
    acceptor.close(ignored);
    ioc.stop();
  });
  std::cout << "http_reference listening on http://" << bound.address().to_string() << ":" << bound.port() << " ("
            << config.threads << " threads)" << std::endl;

  std::vector<std::thread> workers;
  const unsigned extra = config.self_test ? config.threads : config.threads - 1;
  for (unsigned i = 0; i < extra; ++i) workers.emplace_back([&ioc] { ioc.run(); });
  int status = 0;
  if (config.self_test) {
    try {
      status = self_test(bound) ? 0 : 1;
    } catch (const std::exception& e) {
      std::cout << "FAIL self test: " << e.what() << "\n";
      status = 1;
    }
    ioc.stop();
  } else {
    ioc.run();
  }
  for (auto& t : workers) t.join();
  return status;
}
