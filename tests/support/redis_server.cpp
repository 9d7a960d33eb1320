#include "redis_server.hpp"

#include "process.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace redis_session::test {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("free_port: socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("free_port: bind() failed");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

TempDir::TempDir(const std::string& base) {
  const char* env = std::getenv("TMPDIR");
  const std::string root = !base.empty() ? base : env != nullptr && *env != '\0' ? env : "/tmp";
  std::string tmpl = root + "/redis_session.XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) throw std::runtime_error("mkdtemp failed: " + std::string(strerror(errno)));
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

// ------------------------------------------------------------------ TLS

namespace {

void run_shell(const std::string& script) {
  int rc = std::system(script.c_str());
  if (rc != 0) throw std::runtime_error("command failed (" + std::to_string(rc) + "): " + script);
}

}  // namespace

const TlsMaterial& TlsMaterial::get() {
  static TempDir dir;
  static const TlsMaterial material = [] {
    const std::string d = dir.path();
    // EC keys: generating them takes milliseconds, RSA ones can take seconds.
    std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    std::ostringstream s;
    s << "set -e; cd '" << d << "'\n"
      << "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > server.ext\n"
      << "printf 'extendedKeyUsage=clientAuth\\n' > client.ext\n"
      << "openssl req -x509 " << key << " -keyout ca.key -out ca.crt -days 2 -subj '/CN=redis_session test CA' 2>/dev/null\n"
      << "openssl req -x509 " << key << " -keyout other.key -out other.crt -days 2 -subj '/CN=untrusted CA' 2>/dev/null\n"
      << "openssl req -new " << key << " -keyout server.key -out server.csr -subj '/CN=localhost' 2>/dev/null\n"
      << "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2"
      << " -extfile server.ext 2>/dev/null\n"
      << "openssl req -new " << key << " -keyout client.key -out client.csr -subj '/CN=redis_session client' 2>/dev/null\n"
      << "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 2"
      << " -extfile client.ext 2>/dev/null\n";
    run_shell(s.str());
    TlsMaterial m;
    m.ca_file = d + "/ca.crt";
    m.server_cert = d + "/server.crt";
    m.server_key = d + "/server.key";
    m.client_cert = d + "/client.crt";
    m.client_key = d + "/client.key";
    m.other_ca_file = d + "/other.crt";
    return m;
  }();
  return material;
}

// ------------------------------------------------------------------ RedisServer

RedisServer::RedisServer(RedisServerOptions options) : options_(std::move(options)) {
  unix_path_ = dir_.path() + "/redis.sock";
  for (std::size_t i = 0; i + 1 < options_.args.size(); ++i) {
    if (options_.args[i] == "--requirepass") password_ = options_.args[i + 1];
  }
  // Another process may take the port between free_port() and the bind: retry.
  for (int attempt = 0;; ++attempt) {
    port_ = free_port();
    if (options_.tls) tls_port_ = free_port();
    spawn();
    if (wait_ready(10s)) return;
    std::string log = log_tail();
    kill();
    if (attempt == 4) throw std::runtime_error("redis-server did not start; its log ends:\n" + log);
  }
}

RedisServer::~RedisServer() { kill(); }

std::string RedisServer::url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

redis::ConnectionOptions RedisServer::options() const {
  redis::ConnectionOptions o;
  o.host = "127.0.0.1";
  o.port = port_;
  o.password = password_;
  return o;
}

redis::ConnectionOptions RedisServer::tls_options() const {
  redis::ConnectionOptions o = options();
  o.host = "localhost";
  o.port = tls_port_;
  o.tls.enabled = true;
  o.tls.ca_file = TlsMaterial::get().ca_file;
  return o;
}

void RedisServer::spawn() {
  std::vector<std::string> args = {"redis-server",
                                   "--port", std::to_string(port_),
                                   "--bind", "127.0.0.1",
                                   "--unixsocket", unix_path_,
                                   "--unixsocketperm", "700",
                                   "--dir", dir_.path(),
                                   "--save", "",
                                   "--appendonly", "no",
                                   "--daemonize", "no",
                                   "--logfile", dir_.path() + "/redis.log"};
  if (options_.tls) {
    const TlsMaterial& m = TlsMaterial::get();
    for (const std::string& a :
         {std::string("--tls-port"), std::to_string(tls_port_), std::string("--tls-cert-file"), m.server_cert,
          std::string("--tls-key-file"), m.server_key, std::string("--tls-ca-cert-file"), m.ca_file,
          std::string("--tls-auth-clients"), std::string(options_.tls_require_client_cert ? "yes" : "no")}) {
      args.push_back(a);
    }
  }
  if (!options_.config_file.empty()) args.insert(args.begin() + 1, options_.config_file);
  args.insert(args.end(), options_.args.begin(), options_.args.end());
  ProcessOutput output;
  output.discard = true;  // its log goes to --logfile; stderr stays ours, for a failed exec
  process_ = std::make_unique<Process>(std::move(args), output);
}

bool RedisServer::wait_ready(std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!process_->running()) {
      const bool missing = process_->exec_failed();
      process_.reset();
      if (missing) throw std::runtime_error("redis-server is not installed or not on PATH");
      return false;
    }
    try {
      redis::ConnectionOptions o = options();
      o.connect_timeout = 500ms;
      o.client_name.clear();
      redis::Connection c(o);
      if (c.command({"PING"}).is_status("PONG")) return true;
    } catch (const std::exception&) {
      // Not listening yet, or still loading.
    }
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

std::string RedisServer::log_tail() const {
  std::ifstream in(dir_.path() + "/redis.log");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return all.size() > 4000 ? all.substr(all.size() - 4000) : all;
}

pid_t RedisServer::pid() const {
  return process_ ? process_->pid() : -1;
}

void RedisServer::stop() {
  if (process_) process_->stop(SIGTERM);
  process_.reset();
}

void RedisServer::kill() {
  if (process_) process_->kill();
  process_.reset();
}

void RedisServer::start() {
  if (process_) return;
  // The old socket may linger in TIME_WAIT; redis-server sets SO_REUSEADDR,
  // so the same port is free again at once.
  spawn();
  if (!wait_ready(10s)) {
    throw std::runtime_error("redis-server did not restart on port " + std::to_string(port_) + ":\n" + log_tail());
  }
}

redis::Reply RedisServer::command(std::initializer_list<std::string_view> args, const std::string& password) const {
  redis::ConnectionOptions o = options();
  if (!password.empty()) o.password = password;
  redis::Connection c(o);
  return c.command(args);
}

// ------------------------------------------------------------------ FakeServer

FakeServer::FakeServer(std::string reply, std::chrono::milliseconds delay) : reply_(std::move(reply)), delay_(delay) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 64) != 0 || ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("FakeServer: cannot listen");
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] {
    while (!stopping_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++accepted_;
      std::lock_guard<std::mutex> lock(mutex_);
      client_fds_.push_back(fd);
      threads_.emplace_back([this, fd] { serve_client(fd); });
    }
  });
}

void FakeServer::serve_client(int fd) {
  char buf[4096];
  while (!stopping_) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return;
    if (reply_.empty()) continue;  // a server that never answers
    auto until = std::chrono::steady_clock::now() + delay_;
    while (!stopping_ && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(5ms);
    if (stopping_) return;
    // One reply per request line terminator seen (RESP commands end in \r\n;
    // callers here send one command at a time).
    ssize_t ignored = ::send(fd, reply_.data(), reply_.size(), MSG_NOSIGNAL);
    (void)ignored;
  }
}

FakeServer::~FakeServer() {
  stopping_ = true;
  acceptor_.join();
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& t : threads_) t.join();
  for (int fd : client_fds_) ::close(fd);
  ::close(listen_fd_);
}

}  // namespace redis_session::test
