#pragma once
// Test support: an in-process TCP proxy on 127.0.0.1 (a free port) that sits
// between a client under test and a real server (a redis-server) and injects
// the faults a network and a dying server produce: latency (per direction,
// fixed or on a random fraction of chunks), a stall (connections accepted and
// kept, nothing forwarded), cutting every connection, a reset in the middle
// of a reply (part of a chunk forwarded, then RST via SO_LINGER 0), and a
// server that is gone (listener closed: connections refused). Counters say
// what it did.
//
// One event-loop thread does all the I/O with poll(); the control functions
// only change settings under a mutex and wake it. A "chunk" is whatever one
// read() returned; with one command in flight per connection, a chunk from
// the server is (part of) one reply.
//
// Thread safety: every member function may be called concurrently from any
// thread. Each setter returns once the loop has taken the change: it holds
// for every chunk read afterwards, cut_all() and set_down(true) have closed
// what they close.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "support/non_copyable.hpp"

namespace redis_session::test {

class FaultProxy : NonCopyable {
 public:
  enum class Direction { to_server, to_client };

  // Listens on a free loopback port and forwards to upstream_host:upstream_port.
  explicit FaultProxy(std::uint16_t upstream_port, std::string upstream_host = "127.0.0.1");
  ~FaultProxy();

  std::uint16_t port() const { return port_; }

  // Every chunk read from then on in `direction` is held `delay` before it is
  // forwarded (order within a connection is kept). 0: none.
  void set_latency(Direction direction, std::chrono::milliseconds delay);
  // A random `probability` of the chunks in `direction` are held an extra
  // `delay` (and, order being kept, so is what follows them on that
  // connection). For replies that arrive after their caller's deadline.
  void set_random_delay(Direction direction, double probability, std::chrono::milliseconds delay);
  // Stalled: nothing is read or forwarded in either direction, new
  // connections are accepted and kept. Unstalled: forwarding resumes with
  // whatever was waiting.
  void set_stall(bool stalled);
  // Closes every open connection now (both sides, with RST when `reset`,
  // else FIN). New connections are accepted as usual.
  void cut_all(bool reset = true);
  // The next `count` chunks from the server are cut in the middle: the first
  // half is forwarded, then both sides are reset (RST).
  void reset_next_replies(int count);
  // The next `count` chunks from the server are dropped whole, then both
  // sides are reset: the server ran the request, the client sees not one
  // byte of its reply (an acknowledgement lost on the way back).
  void drop_next_replies(int count);
  // Each chunk from the server is cut that way with this probability.
  void set_reset_probability(double probability);
  // Down: every connection is cut and the listener closed, so connects are
  // refused, as if the server had died. Up: listening again on the same port.
  void set_down(bool down);

  // Counters since construction.
  std::uint64_t accepted() const { return accepted_.load(); }
  std::uint64_t bytes_to_server() const { return bytes_to_server_.load(); }
  std::uint64_t bytes_to_client() const { return bytes_to_client_.load(); }
  std::uint64_t resets_mid_reply() const { return resets_mid_reply_.load(); }
  std::uint64_t delayed_chunks() const { return delayed_chunks_.load(); }
  std::uint64_t open_connections() const { return open_connections_.load(); }

 private:
  struct Settings {
    std::chrono::milliseconds latency[2]{};
    double delay_probability[2]{};
    std::chrono::milliseconds random_delay[2]{};
    bool stalled = false;
    bool down = false;
    int reset_next = 0;
    int drop_next = 0;
    double reset_probability = 0;
  };
  struct Conn;

  void run() noexcept;
  void listen_on(std::uint16_t port);
  void wake();
  // Called with the lock held after a change: waits until the loop has
  // taken it, so a setter's effect holds for everything after it returns.
  void apply(std::unique_lock<std::mutex>& lock);
  // Runs `edit` under the lock, then apply(): what every setter does.
  template <class Edit>
  void change(Edit edit) {
    std::unique_lock<std::mutex> lock(mutex_);
    edit();
    apply(lock);
  }

  std::string upstream_host_;
  std::uint16_t upstream_port_;
  std::uint16_t port_ = 0;
  int listen_fd_ = -1;  // loop thread only after construction
  int wake_fds_[2] = {-1, -1};

  std::mutex mutex_;
  std::condition_variable done_cv_;
  Settings settings_;                // guarded by mutex_
  std::uint64_t cut_requests_ = 0;   // guarded by mutex_
  std::uint64_t cut_done_ = 0;       // guarded by mutex_
  bool cut_with_reset_ = true;       // guarded by mutex_
  std::uint64_t version_ = 0;        // guarded by mutex_: changes made
  std::uint64_t applied_ = 0;        // guarded by mutex_: changes the loop has taken
  bool stopping_ = false;            // guarded by mutex_

  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> bytes_to_server_{0};
  std::atomic<std::uint64_t> bytes_to_client_{0};
  std::atomic<std::uint64_t> resets_mid_reply_{0};
  std::atomic<std::uint64_t> delayed_chunks_{0};
  std::atomic<std::uint64_t> open_connections_{0};

  std::thread loop_;
};

}  // namespace redis_session::test
