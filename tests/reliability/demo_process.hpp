#pragma once
// Test helpers for the reliability suite: the full demo server
// (examples/demo_server/) as a child process, raw HTTP exchanges over a socket
// (bytes exactly as given: CR, LF and NUL included), and a MONITOR client
// that records every command a redis-server executes, with its arguments.
//
// Thread safety: DemoProcess and raw_http: one thread each. RedisMonitor's
// reader runs on its own thread; its public functions may be called from any.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/process.hpp"

namespace redis_session::test {

// ---------------------------------------------------------------- sockets

inline int connect_loopback(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) + " failed");
  }
  return fd;
}

// ---------------------------------------------------------------- HTTP

struct HttpResult {
  int status = 0;          // 0: no response at all
  std::string head;        // status line and headers
  std::string body;
  std::vector<std::string> set_cookies;
  std::string error;       // why the exchange ended early, if it did
};

inline std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  return s;
}

// Sends `request` on a fresh connection while reading (a server may answer
// and close before a large body is sent), until the server closes or
// `limit` passes. Never throws for what the server does.
inline HttpResult raw_http(std::uint16_t port, const std::string& request,
                           std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  HttpResult r;
  int fd = connect_loopback(port);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  std::string in;
  std::size_t sent = 0;
  bool writing = true;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      r.error = "timed out";
      break;
    }
    pollfd p{fd, static_cast<short>(POLLIN | (writing ? POLLOUT : 0)), 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) < 0) continue;
    if (writing && (p.revents & POLLOUT)) {
      ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n > 0) sent += static_cast<std::size_t>(n);
      if (n < 0 && errno != EAGAIN) writing = false;  // the server stopped reading: fine
      if (sent == request.size()) writing = false;
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[65536];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n > 0) {
        in.append(buf, static_cast<std::size_t>(n));
      } else if (n == 0) {
        break;  // the server closed: the whole response is in
      } else if (errno != EAGAIN) {
        r.error = std::string("recv: ") + std::strerror(errno);
        break;
      }
    }
  }
  ::close(fd);
  auto end = in.find("\r\n\r\n");
  r.head = in.substr(0, end);
  if (end != std::string::npos) r.body = in.substr(end + 4);
  if (in.rfind("HTTP/1.", 0) == 0 && in.size() >= 12) r.status = std::atoi(in.substr(9, 3).c_str());
  std::size_t pos = 0;
  while ((pos = r.head.find("\r\n", pos)) != std::string::npos) {
    pos += 2;
    auto eol = r.head.find("\r\n", pos);
    std::string line = r.head.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
    if (lower(line).rfind("set-cookie:", 0) == 0) {
      std::string v = line.substr(11);
      while (!v.empty() && v.front() == ' ') v.erase(0, 1);
      r.set_cookies.push_back(v);
    }
  }
  return r;
}

// A plain request: `extra` are whole header lines ending in \r\n.
inline std::string http_request(const std::string& method, const std::string& target, const std::string& extra = {},
                                const std::string& body = {}) {
  std::string r = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + extra;
  if (!body.empty() || method == "PUT" || method == "POST") r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return r + "\r\n" + body;
}

// The value of the cookie `name` in a Set-Cookie header ("" if it is not that cookie).
inline std::string set_cookie_value(const std::string& set_cookie, const std::string& name = "sid") {
  if (set_cookie.rfind(name + "=", 0) != 0) return {};
  auto end = set_cookie.find(';');
  return set_cookie.substr(name.size() + 1, end == std::string::npos ? std::string::npos : end - name.size() - 1);
}

// ---------------------------------------------------------------- the demo

class DemoProcess {
 public:
  explicit DemoProcess(std::vector<std::string> args) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    test::ProcessOutput output;
    output.fd = out[1];
    try {
      process_ = std::make_unique<test::Process>(std::move(args), output);
    } catch (...) {
      ::close(out[0]);
      ::close(out[1]);
      throw;
    }
    ::close(out[1]);
    out_ = out[0];
    // Read until the "listening on http://HOST:PORT" line, then keep
    // draining so the server never blocks on a full pipe.
    std::string seen;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (port_ == 0 && std::chrono::steady_clock::now() < deadline) {
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[4096];
      ssize_t n = ::read(out_, buf, sizeof buf);
      if (n <= 0) break;
      seen.append(buf, static_cast<std::size_t>(n));
      auto at = seen.find("listening on http://127.0.0.1:");
      if (at != std::string::npos) {
        auto digits = at + std::strlen("listening on http://127.0.0.1:");
        auto end = seen.find_first_not_of("0123456789", digits);
        if (end != std::string::npos) port_ = static_cast<std::uint16_t>(std::stoi(seen.substr(digits, end - digits)));
      }
    }
    output_ = seen;
    if (port_ == 0) {
      kill_now();
      ::close(out_);
      throw std::runtime_error("the demo did not start; its output:\n" + seen);
    }
    drain_ = std::thread([fd = out_] {
      char buf[4096];
      while (::read(fd, buf, sizeof buf) > 0) {
      }
    });
  }
  ~DemoProcess() {
    kill_now();  // the drain thread sees EOF once the demo is gone
    if (drain_.joinable()) drain_.join();
    if (out_ >= 0) ::close(out_);
  }
  DemoProcess(const DemoProcess&) = delete;
  DemoProcess& operator=(const DemoProcess&) = delete;

  std::uint16_t port() const { return port_; }
  // What the process printed up to its "listening on" line.
  const std::string& output() const { return output_; }

  // True while the process runs (it has not exited or died of a signal).
  bool alive() { return process_->running(); }
  // How it ended, for messages: "exit 0", "signal 11".
  std::string how_it_ended() const { return process_->how_it_ended(); }

  // SIGTERM and wait; the exit status (0 for a clean shutdown).
  int stop() {
    process_->stop(SIGTERM);
    return process_->exited_normally() ? process_->status() : -1;
  }

 private:
  void kill_now() { process_->kill(); }
  std::unique_ptr<test::Process> process_;
  int out_ = -1;
  std::uint16_t port_ = 0;
  std::string output_;
  std::thread drain_;
};

// ---------------------------------------------------------------- MONITOR

// One command as MONITOR printed it: the client ("127.0.0.1:port" or "lua")
// and the arguments, unescaped.
struct MonitoredCommand {
  std::string client;
  std::vector<std::string> args;
};

class RedisMonitor {
 public:
  explicit RedisMonitor(std::uint16_t port) : fd_(connect_loopback(port)) {
    const char cmd[] = "MONITOR\r\n";
    if (::send(fd_, cmd, sizeof cmd - 1, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof cmd - 1)) {
      throw std::runtime_error("MONITOR: send failed");
    }
    reader_ = std::thread([this] { read_loop(); });
    // MONITOR answers +OK before it streams anything.
    std::unique_lock<std::mutex> lock(mutex_);
    if (!cv_.wait_for(lock, std::chrono::seconds(10), [&] { return ok_ || closed_; }) || !ok_) {
      throw std::runtime_error("MONITOR did not start");
    }
  }
  ~RedisMonitor() {
    ::shutdown(fd_, SHUT_RDWR);
    reader_.join();
    ::close(fd_);
  }
  RedisMonitor(const RedisMonitor&) = delete;
  RedisMonitor& operator=(const RedisMonitor&) = delete;

  // Waits until a command whose arguments include `marker` was seen (send it
  // on another connection, e.g. ECHO marker): everything Redis executed
  // before it has been seen too. Returns every command so far.
  std::vector<MonitoredCommand> until(const std::string& marker, std::chrono::seconds limit = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock(mutex_);
    auto seen = [&] {
      for (const auto& c : commands_) {
        for (const auto& a : c.args) {
          if (a == marker) return true;
        }
      }
      return false;
    };
    if (!cv_.wait_for(lock, limit, seen)) throw std::runtime_error("MONITOR never showed " + marker);
    return commands_;
  }

 private:
  void read_loop() {
    std::string buffer;
    char chunk[65536];
    for (;;) {
      ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) break;
      buffer.append(chunk, static_cast<std::size_t>(n));
      std::size_t start = 0, eol;
      std::vector<MonitoredCommand> parsed;
      bool ok = false;
      while ((eol = buffer.find("\r\n", start)) != std::string::npos) {
        std::string_view line(buffer.data() + start, eol - start);
        start = eol + 2;
        if (line == "+OK") {
          ok = true;
        } else if (auto c = parse(line)) {
          parsed.push_back(std::move(*c));
        }
      }
      buffer.erase(0, start);
      std::lock_guard<std::mutex> lock(mutex_);
      ok_ = ok_ || ok;
      for (auto& c : parsed) commands_.push_back(std::move(c));
      cv_.notify_all();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    cv_.notify_all();
  }

  // +1700000000.123456 [0 127.0.0.1:5555] "HGETALL" "session:abc"
  static std::optional<MonitoredCommand> parse(std::string_view line) {
    if (line.empty() || line[0] != '+') return std::nullopt;
    auto open = line.find('[');
    auto close = line.find(']', open);
    if (open == std::string_view::npos || close == std::string_view::npos) return std::nullopt;
    MonitoredCommand c;
    std::string_view who = line.substr(open + 1, close - open - 1);
    c.client = std::string(who.substr(who.find(' ') + 1));
    std::size_t i = close + 1;
    while (i < line.size()) {
      if (line[i] != '"') {
        ++i;
        continue;
      }
      std::string arg;
      for (++i; i < line.size() && line[i] != '"'; ++i) {
        char ch = line[i];
        if (ch != '\\' || i + 1 >= line.size()) {
          arg.push_back(ch);
          continue;
        }
        char e = line[++i];
        switch (e) {
          case 'n': arg.push_back('\n'); break;
          case 'r': arg.push_back('\r'); break;
          case 't': arg.push_back('\t'); break;
          case 'a': arg.push_back('\a'); break;
          case 'b': arg.push_back('\b'); break;
          case 'x':
            if (i + 2 < line.size()) {
              arg.push_back(static_cast<char>(std::stoi(std::string(line.substr(i + 1, 2)), nullptr, 16)));
              i += 2;
            }
            break;
          default: arg.push_back(e);  // \\ and \"
        }
      }
      ++i;  // the closing quote
      c.args.push_back(std::move(arg));
    }
    return c;
  }

  int fd_;
  std::thread reader_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<MonitoredCommand> commands_;
  bool ok_ = false;
  bool closed_ = false;
};

// The key arguments of a command, for the commands a session store sends
// (directly or from its scripts). nullopt: a command this table does not
// know, which a test should treat as a finding.
inline std::optional<std::vector<std::string>> key_arguments(const MonitoredCommand& c) {
  if (c.args.empty()) return std::vector<std::string>{};
  std::string name = c.args[0];
  for (char& ch : name) ch = static_cast<char>(ch >= 'a' && ch <= 'z' ? ch - 32 : ch);
  const auto& a = c.args;
  auto from = [&](std::size_t first, std::size_t last) {
    std::vector<std::string> keys;
    for (std::size_t i = first; i < std::min(last, a.size()); ++i) keys.push_back(a[i]);
    return keys;
  };
  static const char* no_keys[] = {"PING", "TIME", "CLIENT", "SELECT", "AUTH", "HELLO", "INFO", "ECHO",
                                  "SCRIPT", "COMMAND", "MONITOR", "QUIT", "RESET", "ACL"};
  for (const char* n : no_keys) {
    if (name == n) return std::vector<std::string>{};
  }
  static const char* first_key[] = {"HGETALL", "PEXPIRE", "HSET", "HGET", "HDEL", "HINCRBY", "TYPE", "PTTL", "DUMP",
                                    "PEXPIRETIME", "EXPIRE", "HMSET", "HEXISTS", "HLEN", "GET", "SET"};
  for (const char* n : first_key) {
    if (name == n) return from(1, 2);
  }
  if (name == "EXISTS" || name == "UNLINK" || name == "DEL" || name == "TOUCH") return from(1, a.size());
  if (name == "RENAME") return from(1, 3);
  if (name == "EVALSHA" || name == "EVAL") {
    if (a.size() < 3) return std::vector<std::string>{};
    std::size_t n = static_cast<std::size_t>(std::stoul(a[2]));
    return from(3, 3 + n);
  }
  if (name == "SCAN") return std::vector<std::string>{};  // the MATCH pattern is checked separately
  return std::nullopt;
}

}  // namespace redis_session::test
