#pragma once
// Test support: throwaway redis-server processes, TLS material, and a fake
// TCP server that accepts and answers on a script. Every server listens on a
// free loopback port in its own temp dir and is killed and removed when the
// object dies (and, through PR_SET_PDEATHSIG, when the test process dies).
// A missing redis-server binary throws: a test that needs one fails loudly.
//
// Thread safety: none; create and control each object from one thread.

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "redis_session/redis/connection.hpp"
#include "redis_session/redis/options.hpp"
#include "support/non_copyable.hpp"

namespace redis_session::test {

class Process;

// A free TCP port on 127.0.0.1 right now (bound and released).
std::uint16_t free_port();

// A directory under $TMPDIR (or /tmp), or under `base` when given, removed
// with its contents on destruction.
class TempDir : NonCopyable {
 public:
  explicit TempDir(const std::string& base = {});
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A CA, a server certificate for localhost/127.0.0.1 signed by it, a client
// certificate, and a second CA that signed nothing we use ("untrusted").
// Generated once per process with the openssl CLI.
struct TlsMaterial {
  std::string ca_file;
  std::string server_cert;
  std::string server_key;
  std::string client_cert;
  std::string client_key;
  std::string other_ca_file;
  static const TlsMaterial& get();
};

struct RedisServerOptions {
  bool tls = false;                     // also listen for TLS on tls_port()
  bool tls_require_client_cert = false; // tls-auth-clients yes
  std::vector<std::string> args;        // extra redis-server arguments, e.g. {"--requirepass", "pw"}
  // A config file passed first (redis-server reads a file only there), e.g.
  // for "--sentinel"; the server may rewrite it, so it must be writable.
  std::string config_file;
};

class RedisServer : NonCopyable {
 public:
  explicit RedisServer(RedisServerOptions options = {});
  ~RedisServer();

  std::uint16_t port() const { return port_; }
  std::uint16_t tls_port() const { return tls_port_; }
  const std::string& unix_path() const { return unix_path_; }
  std::string url() const;  // redis://127.0.0.1:port
  pid_t pid() const;        // -1 when stopped
  bool running() const { return process_ != nullptr; }
  // The server's working directory (--dir): its log, nodes.conf, dumps.
  const std::string& dir() const { return dir_.path(); }
  // The end of the server's log, for failure messages.
  std::string log_tail() const;

  // Options for a plain TCP connection to this server (no credentials).
  redis::ConnectionOptions options() const;
  // Options for TLS to this server, verifying against the test CA.
  redis::ConnectionOptions tls_options() const;

  void stop();   // SIGTERM, then wait
  void kill();   // SIGKILL, then wait: the server dies mid-whatever
  void start();  // (re)start on the same ports and dir; waits until it answers PING

  // A command on a fresh connection (with `password` if the server needs it).
  redis::Reply command(std::initializer_list<std::string_view> args, const std::string& password = {}) const;

 private:
  void spawn();
  bool wait_ready(std::chrono::milliseconds limit);

  RedisServerOptions options_;
  TempDir dir_;
  std::string unix_path_;
  std::uint16_t port_ = 0;
  std::uint16_t tls_port_ = 0;
  std::unique_ptr<Process> process_;  // null when stopped
  std::string password_;  // from --requirepass, for readiness checks
};

// A TCP server on 127.0.0.1 that accepts connections, reads what they send
// and, per connection, answers `reply` after `delay` for every `\n`-terminated
// chunk it reads; with reply empty it never answers. Used for stalls and late
// replies that a real server cannot be made to produce on demand.
class FakeServer : NonCopyable {
 public:
  FakeServer(std::string reply, std::chrono::milliseconds delay);
  ~FakeServer();
  std::uint16_t port() const { return port_; }
  int accepted() const { return accepted_.load(); }

 private:
  void serve_client(int fd);
  std::string reply_;
  std::chrono::milliseconds delay_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::mutex mutex_;
  std::vector<int> client_fds_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace redis_session::test
