// Smoke-test driver for the example servers (ctest runs it; not an example
// in itself). Starts a throwaway redis-server (with --redis), starts SERVER
// with every "{url}" replaced by the Redis URL, waits for the line
// "... listening on http://HOST:PORT" on its stdout, then either runs the
// built-in checks named by --check or runs the --run command (with "{http}"
// replaced by the server's base URL and "{url}" by Redis's), and finally
// stops the server with SIGTERM and expects a clean exit.
//
// Usage: http_smoke [--redis] [--check demo|demo-memory|example|httplib]
//                   [--run PROGRAM ARGS...] --server SERVER ARGS...
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/redis_server.hpp"

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

// ------------------------------------------------------------------ checks

int passed = 0;
int failed = 0;

bool check(bool ok, const std::string& what, const std::string& detail = {}) {
  if (ok) {
    ++passed;
    std::cout << "ok   " << what << "\n";
  } else {
    ++failed;
    std::cout << "FAIL " << what << (detail.empty() ? "" : ": " + detail) << "\n";
  }
  return ok;
}

// ------------------------------------------------------------------ client

struct Reply {
  int status = 0;
  std::string body;
  std::string set_cookie;  // the Set-Cookie header, if any
  std::string content_type;
  bool keep_alive = true;
  std::string header(http::field f) const { return headers.count(f) ? headers.at(f) : std::string(); }
  std::map<http::field, std::string> headers;
};

// A keep-alive HTTP/1.1 client with a one-cookie jar for "sid".
class Client {
 public:
  Client(std::string host, std::string port) : host_(std::move(host)), port_(std::move(port)) {}

  Reply request(http::verb method, const std::string& target, std::string body = {}, bool send_cookie = true) {
    for (int attempt = 0;; ++attempt) {
      try {
        return exchange(method, target, body, send_cookie);
      } catch (const std::exception&) {
        // The server may close an idle keep-alive connection: reconnect once.
        stream_.reset();
        if (attempt == 1) throw;
      }
    }
  }
  Reply get(const std::string& target) { return request(http::verb::get, target); }

  // Sends raw bytes on a fresh connection and returns the status line's code.
  int raw(const std::string& bytes) {
    connect();
    net::write(stream_->socket(), net::buffer(bytes));
    http::response<http::string_body> res;
    http::read(*stream_, buffer_, res);
    stream_.reset();
    return static_cast<int>(res.result_int());
  }

  std::string cookie;  // the sid cookie's value ("" = none)

 private:
  void connect() {
    stream_.emplace(ioc_);
    tcp::resolver resolver(ioc_);
    stream_->expires_after(10s);
    stream_->connect(resolver.resolve(host_, port_));
    buffer_.clear();
  }

  Reply exchange(http::verb method, const std::string& target, const std::string& body, bool send_cookie) {
    if (!stream_) connect();
    http::request<http::string_body> req(method, target, 11);
    req.set(http::field::host, host_);
    if (send_cookie && !cookie.empty()) req.set(http::field::cookie, "sid=" + cookie);
    if (!body.empty() || method == http::verb::put || method == http::verb::post) {
      req.body() = body;
      req.prepare_payload();
    }
    stream_->expires_after(10s);
    http::write(*stream_, req);
    http::response<http::string_body> res;
    http::read(*stream_, buffer_, res);
    Reply reply;
    reply.status = static_cast<int>(res.result_int());
    reply.body = res.body();
    reply.keep_alive = res.keep_alive();
    for (const auto& f : res) reply.headers[f.name()] = std::string(f.value());
    reply.set_cookie = reply.header(http::field::set_cookie);
    reply.content_type = reply.header(http::field::content_type);
    // The jar: take a new id, drop a cleared one.
    if (reply.set_cookie.rfind("sid=", 0) == 0) {
      const std::string value = reply.set_cookie.substr(4, reply.set_cookie.find(';') - 4);
      cookie = reply.set_cookie.find("Max-Age=0") != std::string::npos ? std::string() : value;
    }
    if (!reply.keep_alive) stream_.reset();
    return reply;
  }

  std::string host_, port_;
  net::io_context ioc_;
  std::optional<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
};

std::string describe(const Reply& r) {
  return "HTTP " + std::to_string(r.status) + " body '" + r.body + "'";
}

// ------------------------------------------------------------------ scenarios

struct Target {
  std::string host;
  std::string port;
  redis_session::test::RedisServer* redis = nullptr;  // null without --redis
};

void check_common_demo(const Target& t, bool redis) {
  Client c(t.host, t.port);
  Reply r = c.get("/plain");
  check(r.status == 200 && r.body == "ok", "GET /plain is 200 ok", describe(r));
  check(r.set_cookie.empty(), "GET /plain sets no cookie");
  r = c.get("/healthz");
  check(r.status == 200 && r.body == "ok", "GET /healthz is 200 ok", describe(r));

  r = c.get("/session");
  check(r.status == 200 && r.body == "{}", "GET /session of a new visitor is {}", describe(r));
  check(r.set_cookie.empty(), "an untouched new session sets no cookie", r.set_cookie);

  r = c.get("/count");
  check(r.status == 200 && r.body == "1", "GET /count starts at 1", describe(r));
  check(!c.cookie.empty() && r.set_cookie.find("HttpOnly") != std::string::npos &&
            r.set_cookie.find("SameSite=Lax") != std::string::npos && r.set_cookie.find("Path=/") != std::string::npos,
        "the first count sets an HttpOnly, SameSite=Lax sid cookie", r.set_cookie);
  check(r.header(http::field::cache_control) == "no-store", "session responses are Cache-Control: no-store");
  check(r.header(http::field::vary) == "Cookie", "a response with Set-Cookie has Vary: Cookie",
        r.header(http::field::vary));
  const std::string first_id = c.cookie;
  r = c.get("/count");
  check(r.status == 200 && r.body == "2", "GET /count with the cookie gives 2", describe(r));
  check(r.set_cookie.empty(), "an existing session's count sends no new cookie", r.set_cookie);

  r = c.request(http::verb::put, "/session/color", "\"blue\"");
  check(r.status == 204, "PUT /session/color \"blue\" is 204", describe(r));
  r = c.request(http::verb::put, "/session/prefs", R"({"lang":"en","n":[1,2]})");
  check(r.status == 204, "PUT /session/prefs {object} is 204", describe(r));
  r = c.request(http::verb::put, "/session/bad", "{not json");
  check(r.status == 400, "PUT with invalid JSON is 400", describe(r));
  r = c.request(http::verb::put, "/session/deep", std::string(1000, '[') + std::string(1000, ']'));
  check(r.status == 400, "PUT with JSON nested 1000 deep is 400", describe(r));
  r = c.request(http::verb::put, "/session/", "1");
  check(r.status == 400, "PUT /session/ (empty field name) is 400", describe(r));
  r = c.request(http::verb::put, "/session/%00x", "1");
  check(r.status == 400, "PUT /session/%00x (reserved field name) is 400", describe(r));
  r = c.request(http::verb::put, "/session/%zz", "1");
  check(r.status == 400, "PUT /session/%zz (bad escape) is 400", describe(r));
  r = c.request(http::verb::put, "/session/my%20field", "true");
  check(r.status == 204, "PUT /session/my%20field (percent-decoded name) is 204", describe(r));
  r = c.get("/session");
  nlohmann::json s = nlohmann::json::parse(r.body, nullptr, false);
  check(r.status == 200 && s == nlohmann::json{{"count", 2},
                                               {"color", "blue"},
                                               {"prefs", {{"lang", "en"}, {"n", {1, 2}}}},
                                               {"my field", true}},
        "GET /session shows every field, and nothing of the invalid PUTs", describe(r));
  check(r.content_type == "application/json", "GET /session is application/json", r.content_type);

  r = c.request(http::verb::delete_, "/session/color");
  check(r.status == 204, "DELETE /session/color is 204", describe(r));
  r = c.get("/session");
  s = nlohmann::json::parse(r.body, nullptr, false);
  check(s.is_object() && !s.contains("color") && s.value("count", 0) == 2, "the deleted field is gone", describe(r));

  r = c.request(http::verb::put, "/session/count", "\"many\"");
  r = c.get("/count");
  check(r.status == 409, "GET /count when count holds a string is 409", describe(r));
  r = c.request(http::verb::put, "/session/count", "2");
  check(r.status == 204, "PUT /session/count 2 is 204", describe(r));

  // Log in: a new id for the same data; the old id is dead.
  r = c.request(http::verb::post, "/login?user=J%C3%BCrgen+K");
  s = nlohmann::json::parse(r.body, nullptr, false);
  check(r.status == 200 && s.is_object() && s.value("user", "") == "J\xC3\xBCrgen K" && s.value("count", 0) == 2,
        "POST /login?user=... keeps the data and sets the (decoded) user", describe(r));
  check(!c.cookie.empty() && c.cookie != first_id, "login rotates the session id", r.set_cookie);
  const std::string logged_in_id = c.cookie;
  c.cookie = first_id;
  r = c.get("/session");
  check(r.body == "{}", "the pre-login id no longer opens the session", describe(r));
  c.cookie = logged_in_id;
  r = c.get("/session");
  s = nlohmann::json::parse(r.body, nullptr, false);
  check(s.is_object() && s.value("user", "") == "J\xC3\xBCrgen K", "the new id opens it", describe(r));
  r = c.request(http::verb::post, "/login");
  check(r.status == 400, "POST /login without user is 400", describe(r));
  r = c.request(http::verb::post, "/login?user=%FF");
  check(r.status == 400, "POST /login with a user that is not UTF-8 is 400", describe(r));

  // Concurrency: parallel increments on one session lose nothing.
  {
    constexpr int threads = 4, each = 50;
    std::mutex m;
    std::set<long long> seen;
    std::atomic<int> errors{0};
    std::vector<std::thread> pool;
    for (int i = 0; i < threads; ++i) {
      pool.emplace_back([&] {
        try {
          Client mine(t.host, t.port);
          mine.cookie = logged_in_id;
          for (int k = 0; k < each; ++k) {
            Reply x = mine.get("/count");
            if (x.status != 200 || !x.set_cookie.empty()) ++errors;
            std::lock_guard<std::mutex> lock(m);
            seen.insert(std::stoll(x.body));
          }
        } catch (const std::exception&) {
          ++errors;
        }
      });
    }
    for (auto& th : pool) th.join();
    check(errors == 0 && seen.size() == threads * each && *seen.begin() == 3 && *seen.rbegin() == 2 + threads * each,
          "200 parallel /count on one session give 3..202, each once",
          std::to_string(seen.size()) + " distinct, errors " + std::to_string(errors.load()));
  }

  // Log out: destroyed, cookie cleared, the id is dead.
  r = c.request(http::verb::post, "/logout");
  check(r.status == 200 && r.set_cookie.find("Max-Age=0") != std::string::npos,
        "POST /logout is 200 and clears the cookie", describe(r) + " " + r.set_cookie);
  c.cookie = logged_in_id;
  r = c.get("/session");
  check(r.body == "{}", "the logged-out id opens nothing", describe(r));
  c.cookie.clear();

  // Forged and garbage cookies: never adopted.
  c.cookie = "AAAAAAAAAAAAAAAAAAAAAA";
  r = c.get("/count");
  check(r.status == 200 && r.body == "1" && c.cookie != "AAAAAAAAAAAAAAAAAAAAAA",
        "an unknown id is replaced by a fresh one", describe(r));
  c.cookie = "../../etc/passwd";
  r = c.get("/session");
  check(r.status == 200 && r.body == "{}", "a malformed cookie gives a new session", describe(r));
  c.cookie.clear();

  // Routing and limits.
  r = c.get("/nope");
  check(r.status == 404, "unknown route is 404", describe(r));
  r = c.request(http::verb::post, "/count");
  check(r.status == 405 && r.header(http::field::allow) == "GET", "POST /count is 405 with Allow: GET", describe(r));
  r = c.get("/session/x");
  check(r.status == 405, "GET /session/x is 405", describe(r));
  r = c.request(http::verb::put, "/session/big", "\"" + std::string(70 * 1024, 'x') + "\"");
  check(r.status == 413, "a 70 KiB body is 413", describe(r).substr(0, 80));
  check(c.raw("GARBAGE\r\n\r\n") == 400, "a malformed request is 400");
  check(c.raw("PUT /session/x HTTP/1.1\r\nHost: x\r\nContent-Length: 999999\r\n\r\n") == 413,
        "a declared 1 MB body is refused (413) before it is sent");

  r = c.get("/");
  check(r.status == 200 && r.content_type.rfind("text/html", 0) == 0, "GET / is HTML", describe(r).substr(0, 80));
  for (const char* id : {"count-button", "count-value", "user-input", "login-button", "logout-button", "session-json",
                         "cookie-visible"}) {
    check(r.body.find("id=\"" + std::string(id) + "\"") != std::string::npos, std::string("the page has #") + id);
  }
  check(r.body.find("http://") == std::string::npos && r.body.find("https://") == std::string::npos &&
            r.body.find("src=") == std::string::npos,
        "the page loads nothing from elsewhere");

  r = c.get("/metrics");
  check(r.status == 200 && r.content_type.rfind("text/plain; version=0.0.4", 0) == 0, "GET /metrics is 200",
        describe(r).substr(0, 80));
  if (redis) {
    check(r.body.find("\nredis_session_pool_open ") != std::string::npos &&
              r.body.find("# TYPE redis_session_pool_acquires_total counter") != std::string::npos &&
              r.body.find("redis_session_pool_closed_total{reason=\"broken\"}") != std::string::npos,
          "/metrics has the pool's statistics", r.body.substr(0, 200));
  } else {
    check(r.body.find("redis_session_demo_store_info{kind=\"memory\"} 1") != std::string::npos,
          "/metrics names the memory store", r.body.substr(0, 200));
  }
  check(r.keep_alive, "responses keep the connection alive");
}

// After Redis is back: whether GET `target` is a 200 again within 5 s (the
// pool reconnects on the next request; no restart of the server).
bool answers_200_again(Client& c, const std::string& target) {
  for (int i = 0; i < 50; ++i) {
    if (c.get(target).status == 200) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

void check_outage(const Target& t) {
  // Redis goes away: 503 from session routes, the server stays up, and it
  // recovers by itself when Redis is back.
  Client c(t.host, t.port);
  Reply r = c.get("/count");
  check(r.status == 200, "GET /count before the outage", describe(r));
  t.redis->stop();
  r = c.get("/count");
  check(r.status == 503 && r.body.find("session store unavailable") != std::string::npos && r.set_cookie.empty() &&
            r.header(http::field::retry_after) == "1",
        "with Redis down, GET /count is 503 with Retry-After and no cookie", describe(r));
  r = c.get("/session");
  check(r.status == 503, "with Redis down, GET /session is 503", describe(r));
  r = c.get("/healthz");
  check(r.status == 503, "with Redis down, /healthz is 503", describe(r));
  r = c.get("/plain");
  check(r.status == 200, "with Redis down, /plain still answers", describe(r));
  r = c.get("/metrics");
  check(r.status == 200 && r.body.find("redis_session_demo_store_errors_total 3") != std::string::npos,
        "/metrics counts the store errors", r.body.substr(0, 200));
  t.redis->start();
  check(answers_200_again(c, "/healthz"), "after Redis is back, /healthz is 200 again");
  c.cookie.clear();
  r = c.get("/count");
  check(r.status == 200 && r.body == "1", "after Redis is back, sessions work", describe(r));
}

// examples/session_demo.cpp: the example to copy, on Redis.
void check_example(const Target& t) {
  Client c(t.host, t.port);
  Reply r = c.get("/name");
  check(r.status == 200 && r.body == "\n", "example: GET /name of a new visitor is empty", describe(r));
  check(r.set_cookie.empty(), "example: an untouched new session sets no cookie", r.set_cookie);
  r = c.get("/count");
  check(r.status == 200 && r.body == "1\n" && !c.cookie.empty() && r.set_cookie.find("HttpOnly") != std::string::npos,
        "example: GET /count is 1 and sets an HttpOnly cookie", describe(r) + " " + r.set_cookie);
  check(r.header(http::field::cache_control) == "no-store" && r.header(http::field::vary) == "Cookie",
        "example: the Set-Cookie comes with Cache-Control: no-store and Vary: Cookie");
  r = c.get("/count");
  check(r.status == 200 && r.body == "2\n" && r.set_cookie.empty(), "example: GET /count again is 2, no new cookie",
        describe(r));
  check(r.header(http::field::vary).empty(), "example: no Vary without a Set-Cookie", r.header(http::field::vary));
  r = c.request(http::verb::put, "/name", "ann");
  check(r.status == 204 && r.set_cookie.empty(), "example: PUT /name is 204", describe(r));
  r = c.get("/name");
  check(r.status == 200 && r.body == "ann\n", "example: GET /name gives it back", describe(r));
  r = c.request(http::verb::put, "/name", std::string("a\x01b"));
  check(r.status == 400, "example: PUT /name with a control character is 400", describe(r));
  r = c.get("/nope");
  check(r.status == 404, "example: an unknown route is 404", describe(r));
  const std::string id = c.cookie;
  r = c.request(http::verb::post, "/logout");
  check(r.status == 200 && r.set_cookie.find("Max-Age=0") != std::string::npos && c.cookie.empty() &&
            r.header(http::field::cache_control) == "no-store",
        "example: POST /logout clears the cookie", describe(r) + " " + r.set_cookie);
  c.cookie = id;
  r = c.get("/name");
  check(r.status == 200 && r.body == "\n", "example: the logged-out id opens nothing", describe(r));
  c.cookie.clear();
  t.redis->stop();
  r = c.get("/count");
  check(r.status == 503 && r.set_cookie.empty() && r.header(http::field::retry_after) == "1" &&
            r.body.find("session store unavailable") != std::string::npos,
        "example: with Redis down, GET /count is 503 with Retry-After and no cookie", describe(r));
  t.redis->start();
  check(answers_200_again(c, "/count"), "example: after Redis is back, sessions work");
}

void check_httplib(const Target& t) {
  Client c(t.host, t.port);
  Reply r = c.get("/session");
  check(r.status == 200 && r.body == "{}", "httplib: GET /session of a new visitor is {}", describe(r));
  r = c.get("/count");
  check(r.status == 200 && r.body == "1" && !c.cookie.empty(), "httplib: GET /count is 1 and sets the cookie",
        describe(r));
  r = c.get("/count");
  check(r.status == 200 && r.body == "2", "httplib: GET /count again is 2", describe(r));
  r = c.get("/session");
  check(r.status == 200 && r.body == R"({"count":2})", "httplib: GET /session shows the count", describe(r));
  t.redis->stop();
  r = c.get("/count");
  check(r.status == 503 && r.set_cookie.empty(), "httplib: with Redis down, GET /count is 503", describe(r));
  t.redis->start();
}

// ------------------------------------------------------------------ processes

std::string substitute(std::string s, const std::string& key, const std::string& value) {
  for (auto pos = s.find(key); pos != std::string::npos; pos = s.find(key, pos + value.size())) {
    s.replace(pos, key.size(), value);
  }
  return s;
}

pid_t spawn(const std::vector<std::string>& args, int stdout_fd) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the driver
    if (::getppid() != parent) ::_exit(127);
    if (stdout_fd >= 0) ::dup2(stdout_fd, STDOUT_FILENO);
    ::execvp(argv[0], argv.data());
    std::fprintf(stderr, "http_smoke: cannot run %s: %s\n", argv[0], std::strerror(errno));
    ::_exit(127);
  }
  return pid;
}

// Waits up to `limit` for the child; its exit status, or nullopt if it is still running.
std::optional<int> wait_exit(pid_t pid, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (r < 0) return -1;
    if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(20ms);
  }
}

// Reads the child's stdout until the "listening on http://..." line; returns the URL.
std::string wait_for_banner(int fd, pid_t pid, std::string& seen) {
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  std::string pending;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) > 0) {
      char buf[4096];
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) break;
      pending.append(buf, static_cast<std::size_t>(n));
      seen.append(buf, static_cast<std::size_t>(n));
      const auto at = pending.find("listening on http://");
      if (at != std::string::npos) {
        const auto start = at + std::strlen("listening on ");
        const auto end = pending.find_first_of(" \n", start);
        if (end != std::string::npos) return pending.substr(start, end - start);
      }
    } else if (wait_exit(pid, 0ms)) {
      break;
    }
  }
  throw std::runtime_error("the server did not print 'listening on http://...'; its output:\n" + seen);
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  bool with_redis = false;
  std::string check_name;
  std::vector<std::string> run_args, server_args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--redis") {
      with_redis = true;
    } else if (a == "--check" && i + 1 < argc) {
      check_name = argv[++i];
    } else if (a == "--run") {
      while (i + 1 < argc && std::string(argv[i + 1]) != "--server") run_args.emplace_back(argv[++i]);
    } else if (a == "--server") {
      server_args.assign(argv + i + 1, argv + argc);
      break;
    } else {
      server_args.clear();
      break;
    }
  }
  const std::set<std::string> known{"", "demo", "demo-memory", "example", "httplib"};
  if (server_args.empty() || !known.count(check_name) || (check_name.empty() == run_args.empty())) {
    std::cerr << "usage: http_smoke [--redis] (--check demo|demo-memory|example|httplib | --run PROGRAM ARGS...) "
                 "--server SERVER ARGS...\n";
    return 2;
  }
  if ((check_name == "demo" || check_name == "example" || check_name == "httplib") && !with_redis) {
    std::cerr << "http_smoke: --check " << check_name << " needs --redis\n";
    return 2;
  }

  try {
    std::optional<redis_session::test::RedisServer> redis;
    std::string redis_url;
    if (with_redis) {
      redis.emplace();
      redis_url = redis->url();
    }
    for (auto& a : server_args) a = substitute(a, "{url}", redis_url);

    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    const pid_t server = spawn(server_args, out[1]);
    ::close(out[1]);
    std::string output;
    std::string base;
    try {
      base = wait_for_banner(out[0], server, output);
    } catch (...) {
      ::kill(server, SIGKILL);
      wait_exit(server, 5s);
      throw;
    }
    std::cout << "server up at " << base << "\n";
    // Keep draining the server's stdout so it can never block on a full pipe.
    std::thread drain([fd = out[0]] {
      char buf[4096];
      while (::read(fd, buf, sizeof buf) > 0) {
      }
      ::close(fd);
    });

    const std::string hostport = base.substr(std::strlen("http://"));
    const auto colon = hostport.rfind(':');
    Target target{hostport.substr(0, colon), hostport.substr(colon + 1), redis ? &*redis : nullptr};
    if (target.host.size() > 2 && target.host.front() == '[')
      target.host = target.host.substr(1, target.host.size() - 2);

    int run_status = 0;
    try {
      if (check_name == "demo" || check_name == "demo-memory") {
        check_common_demo(target, check_name == "demo");
        if (check_name == "demo") check_outage(target);
      } else if (check_name == "example") {
        check_example(target);
      } else if (check_name == "httplib") {
        check_httplib(target);
      } else {
        for (auto& a : run_args) a = substitute(substitute(a, "{http}", base), "{url}", redis_url);
        const pid_t child = spawn(run_args, -1);
        run_status = wait_exit(child, std::chrono::hours(1)).value_or(1);
        check(run_status == 0, "the --run command exits 0", "exit status " + std::to_string(run_status));
      }
    } catch (const std::exception& e) {
      check(false, "the checks ran to the end", e.what());
    }

    check(wait_exit(server, 0ms) == std::nullopt, "the server is still running after the checks");
    ::kill(server, SIGTERM);
    std::optional<int> status = wait_exit(server, 10s);
    check(status && *status == 0, "the server exits 0 on SIGTERM",
          status ? "exit status " + std::to_string(*status) : "still running after 10 s");
    if (!status) {
      ::kill(server, SIGKILL);
      wait_exit(server, 5s);
    }
    drain.join();
  } catch (const std::exception& e) {
    std::cout << "FAIL " << e.what() << "\n";
    ++failed;
  }
  std::cout << passed << " passed, " << failed << " failed\n";
  return failed == 0 ? 0 : 1;
}
