#include "fault_proxy.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <memory>
#include <stdexcept>
#include <vector>

namespace redis_session::test {

using Clock = std::chrono::steady_clock;

namespace {

constexpr int client_side = 0;
constexpr int server_side = 1;
constexpr std::size_t max_queued_bytes = 1 << 20;  // per direction: stop reading beyond this

int index_of(FaultProxy::Direction d) { return d == FaultProxy::Direction::to_server ? 0 : 1; }

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// Closes with RST instead of FIN.
void close_reset(int fd) {
  if (fd < 0) return;
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd);
}

int connect_upstream(const std::string& host, std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    ::close(fd);
    return -1;
  }
  timeval limit{1, 0};  // connect() honours SO_SNDTIMEO
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  set_nonblocking(fd);
  return fd;
}

}  // namespace

struct FaultProxy::Conn {
  struct Chunk {
    std::string data;
    std::size_t offset = 0;
    Clock::time_point due;
    bool reset = false;  // not data: reset both sides when due
  };
  int fd[2] = {-1, -1};          // [client_side], [server_side]
  std::deque<Chunk> queue[2];    // [to_server] read from the client, [to_client] read from the server
  std::size_t queued[2] = {0, 0};
  Clock::time_point last_due[2]{};
  bool eof[2] = {false, false};  // that side closed its end
  bool want_write[2] = {false, false};  // queue[d] blocked on a full socket
  bool dead = false;
  bool reset_on_close = false;

  void close_both() {
    for (int& f : fd) {
      if (reset_on_close) {
        close_reset(f);
      } else if (f >= 0) {
        ::close(f);
      }
      f = -1;
    }
  }
};

FaultProxy::FaultProxy(std::uint16_t upstream_port, std::string upstream_host)
    : upstream_host_(std::move(upstream_host)), upstream_port_(upstream_port) {
  if (::pipe2(wake_fds_, O_CLOEXEC | O_NONBLOCK) != 0) throw std::runtime_error("FaultProxy: pipe2 failed");
  listen_on(0);
  loop_ = std::thread([this] { run(); });
}

FaultProxy::~FaultProxy() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake();
  loop_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  ::close(wake_fds_[0]);
  ::close(wake_fds_[1]);
}

void FaultProxy::listen_on(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 128) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("FaultProxy: cannot listen on 127.0.0.1:" + std::to_string(port) + ": " +
                             std::strerror(errno));
  }
  if (port == 0) port_ = ntohs(addr.sin_port);  // a re-listen keeps it (and writes nothing others read)
  listen_fd_ = fd;
}

void FaultProxy::wake() {
  char c = 1;
  ssize_t ignored = ::write(wake_fds_[1], &c, 1);  // a full pipe already means "wake up"
  (void)ignored;
}

void FaultProxy::apply(std::unique_lock<std::mutex>& lock) {
  const std::uint64_t mine = ++version_;
  wake();
  done_cv_.wait(lock, [&] { return applied_ >= mine || stopping_; });
}

void FaultProxy::set_latency(Direction direction, std::chrono::milliseconds delay) {
  change([&] { settings_.latency[index_of(direction)] = delay; });
}

void FaultProxy::set_random_delay(Direction direction, double probability, std::chrono::milliseconds delay) {
  change([&] {
    settings_.delay_probability[index_of(direction)] = probability;
    settings_.random_delay[index_of(direction)] = delay;
  });
}

void FaultProxy::set_stall(bool stalled) {
  change([&] { settings_.stalled = stalled; });
}

void FaultProxy::cut_all(bool reset) {
  change([&] {
    cut_with_reset_ = reset;
    ++cut_requests_;
  });
}

void FaultProxy::reset_next_replies(int count) {
  change([&] { settings_.reset_next += count; });
}

void FaultProxy::drop_next_replies(int count) {
  change([&] { settings_.drop_next += count; });
}

void FaultProxy::set_reset_probability(double probability) {
  change([&] { settings_.reset_probability = probability; });
}

void FaultProxy::set_down(bool down) {
  change([&] { settings_.down = down; });
}

void FaultProxy::run() noexcept {
  std::vector<std::unique_ptr<Conn>> conns;
  std::vector<pollfd> fds;
  std::mt19937_64 rng(0x5eed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::vector<char> buffer(64 * 1024);

  const auto kill_all = [&](bool reset) {
    for (auto& c : conns) {
      c->reset_on_close = reset;
      c->close_both();
    }
    open_connections_ -= conns.size();
    conns.clear();
  };

  for (;;) {
    Settings s;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) break;
      if (cut_done_ < cut_requests_) {
        kill_all(cut_with_reset_);
        cut_done_ = cut_requests_;
      }
      {
        if (settings_.down && listen_fd_ >= 0) {
          ::close(listen_fd_);
          listen_fd_ = -1;
          kill_all(true);
        } else if (!settings_.down && listen_fd_ < 0) {
          try {
            listen_on(port_);
          } catch (const std::exception&) {
            // The port was taken meanwhile: connects keep failing, which the
            // test will report.
          }
        }
      }
      s = settings_;
      if (applied_ < version_) {
        applied_ = version_;
        done_cv_.notify_all();
      }
    }

    // Forward what is due.
    const auto now = Clock::now();
    if (!s.stalled) {
      for (auto& c : conns) {
        for (int d = 0; d < 2 && !c->dead; ++d) {
          const int dst = d == 0 ? server_side : client_side;
          const int src = d == 0 ? client_side : server_side;
          auto& q = c->queue[d];
          c->want_write[d] = false;
          while (!q.empty() && q.front().due <= now) {
            Conn::Chunk& chunk = q.front();
            if (chunk.reset) {
              c->dead = true;
              c->reset_on_close = true;
              break;
            }
            ssize_t n = ::send(c->fd[dst], chunk.data.data() + chunk.offset, chunk.data.size() - chunk.offset,
                               MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0) {
              if (errno == EAGAIN || errno == EWOULDBLOCK) {
                c->want_write[d] = true;
              } else if (errno != EINTR) {
                c->dead = true;
                c->reset_on_close = true;
              }
              break;
            }
            (d == 0 ? bytes_to_server_ : bytes_to_client_) += static_cast<std::uint64_t>(n);
            chunk.offset += static_cast<std::size_t>(n);
            if (chunk.offset == chunk.data.size()) {
              c->queued[d] -= chunk.data.size();
              q.pop_front();
            }
          }
          // The source closed and everything it sent is through: close. A
          // server that closed gets its client a FIN, as a real one would.
          if (!c->dead && c->eof[src] && q.empty()) c->dead = true;
        }
      }
    }
    for (auto it = conns.begin(); it != conns.end();) {
      if ((*it)->dead) {
        (*it)->close_both();
        --open_connections_;
        it = conns.erase(it);
      } else {
        ++it;
      }
    }

    // Wait for I/O or the next due chunk.
    fds.clear();
    fds.push_back({wake_fds_[0], POLLIN, 0});
    const int listen_fd = listen_fd_;
    fds.push_back({listen_fd, static_cast<short>(listen_fd >= 0 ? POLLIN : 0), 0});
    auto next_due = Clock::time_point::max();
    for (auto& c : conns) {
      for (int side = 0; side < 2; ++side) {
        const int d_in = side == client_side ? 0 : 1;   // what we read from this side goes this way
        const int d_out = side == client_side ? 1 : 0;  // what we write to this side
        short events = 0;
        if (s.stalled) {
          events = POLLRDHUP;  // only notice a peer that gives up
        } else {
          if (!c->eof[side] && c->queued[d_in] < max_queued_bytes) events |= POLLIN;
          if (c->want_write[d_out]) events |= POLLOUT;
          if (!c->queue[d_out].empty() && !c->want_write[d_out]) {
            next_due = std::min(next_due, c->queue[d_out].front().due);
          }
        }
        fds.push_back({c->fd[side], events, 0});
      }
    }
    int timeout_ms = 100;
    if (next_due != Clock::time_point::max()) {
      auto wait = std::chrono::ceil<std::chrono::milliseconds>(next_due - Clock::now()).count();
      timeout_ms = static_cast<int>(std::clamp<long long>(wait, 0, 100));
    }
    int ready = ::poll(fds.data(), fds.size(), timeout_ms);
    if (ready <= 0) continue;

    if (fds[0].revents != 0) {
      char drain[64];
      while (::read(wake_fds_[0], drain, sizeof drain) > 0) {
      }
    }
    if (listen_fd >= 0 && (fds[1].revents & POLLIN) != 0) {
      for (;;) {
        int client = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (client < 0) break;
        ++accepted_;
        int server = connect_upstream(upstream_host_, upstream_port_);
        if (server < 0) {
          close_reset(client);  // the server is gone: so is this connection
          continue;
        }
        int one = 1;
        ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        auto c = std::make_unique<Conn>();
        c->fd[client_side] = client;
        c->fd[server_side] = server;
        conns.push_back(std::move(c));
        ++open_connections_;
      }
    }

    const auto read_time = Clock::now();
    std::size_t slot = 2;
    const std::size_t polled = (fds.size() - 2) / 2;
    for (std::size_t i = 0; i < polled && i < conns.size(); ++i) {
      Conn& c = *conns[i];
      for (int side = 0; side < 2; ++side, ++slot) {
        const short rev = fds[slot].revents;
        if (rev == 0 || c.dead) continue;
        if (s.stalled) {
          if ((rev & (POLLRDHUP | POLLHUP | POLLERR)) != 0) c.dead = true;
          continue;
        }
        if ((rev & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
        if ((fds[slot].events & POLLIN) == 0) {
          if ((rev & (POLLHUP | POLLERR)) != 0) c.dead = true;
          continue;
        }
        ssize_t n = ::recv(c.fd[side], buffer.data(), buffer.size(), MSG_DONTWAIT);
        if (n == 0) {
          c.eof[side] = true;
          if (side == client_side) c.dead = true;  // a client that leaves wants nothing more
          continue;
        }
        if (n < 0) {
          if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            c.dead = true;
            c.reset_on_close = true;
          }
          continue;
        }
        const int d = side == client_side ? 0 : 1;
        Settings now_set;
        {
          std::lock_guard<std::mutex> lock(mutex_);  // what was set before this chunk arrived applies
          now_set = settings_;
        }
        auto due = read_time + now_set.latency[d];
        if (now_set.delay_probability[d] > 0 && uniform(rng) < now_set.delay_probability[d]) {
          due += now_set.random_delay[d];
          ++delayed_chunks_;
        }
        due = std::max(due, c.last_due[d]);
        c.last_due[d] = due;
        std::string data(buffer.data(), static_cast<std::size_t>(n));
        bool reset = false;
        bool drop = false;
        if (d == 1) {
          if (now_set.reset_next > 0 || now_set.drop_next > 0) {
            std::lock_guard<std::mutex> lock(mutex_);
            if (settings_.drop_next > 0) {
              --settings_.drop_next;
              reset = drop = true;
            } else if (settings_.reset_next > 0) {
              --settings_.reset_next;
              reset = true;
            }
          }
          if (!reset && now_set.reset_probability > 0 && uniform(rng) < now_set.reset_probability) reset = true;
        }
        if (reset) {
          // Half of it (none when dropped), then (a moment later, so the
          // client reads the half first) a reset of both sides.
          ++resets_mid_reply_;
          data.resize(drop ? 0 : data.size() / 2);
          if (!data.empty()) {
            c.queued[d] += data.size();
            c.queue[d].push_back({std::move(data), 0, due, false});
          }
          c.queue[d].push_back({std::string(), 0, due + std::chrono::milliseconds(2), true});
          c.eof[server_side] = true;  // read nothing more from it
          continue;
        }
        c.queued[d] += data.size();
        c.queue[d].push_back({std::move(data), 0, due, false});
      }
    }
  }
  kill_all(false);
  std::lock_guard<std::mutex> lock(mutex_);
  done_cv_.notify_all();
}

}  // namespace redis_session::test
