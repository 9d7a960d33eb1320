// The transports. Plain TCP and Unix sockets wait for a reply in a blocking
// recv() bounded by SO_RCVTIMEO (one system call a round trip, like hiredis's
// blocking mode); TLS runs Asio's async operations on the connection's
// io_context bounded by run_until(deadline). Either way a missed deadline
// closes the socket.

#include "transport.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <ctime>
#include <string>
#include <utility>
#include <vector>

#include "resolver.hpp"

namespace redis_session::detail {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// Waits until `fd` is ready for `events` or the deadline passes.
bool wait_ready(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    auto left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) return false;
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
    pollfd p{fd, events, 0};
    int rc = ::ppoll(&p, 1, &ts, nullptr);
    if (rc > 0) return true;  // readable, writable, or an error the next syscall reports
    if (rc < 0 && errno != EINTR) return true;
  }
}

// TCP or Unix-domain socket, driven by plain system calls. A reply is waited
// for inside recv() itself, bounded by SO_RCVTIMEO: one system call waits and
// reads, as in hiredis's blocking round trip (ppoll() then recv() was one
// more per round trip, about 0.4 us of kernel time each here). The kernel's
// timer wheel fires such a timeout up to an eighth of it late (plus a clock
// tick), so SO_RCVTIMEO is set to three quarters of what is left; a reply
// slower than that is waited for by ppoll(), to the deadline exactly. Writes
// never block in the kernel: MSG_DONTWAIT, and ppoll() when the buffer is full.
template <class Socket>
class PlainTransport final : public Transport {
 public:
  PlainTransport(Socket socket, const std::string& endpoint, std::chrono::milliseconds* timeout)
      : socket_(std::move(socket)), endpoint_(endpoint), timeout_(timeout) {
    socket_.non_blocking(false);  // recv() blocks only when armed; everything else passes MSG_DONTWAIT
  }

  void write_all(const char* data, std::size_t size, Clock::time_point deadline) override {
    IoContext ctx{endpoint_, *timeout_};
    const int fd = socket_.native_handle();
    while (size > 0) {
      const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n >= 0) {
        data += n;
        size -= static_cast<std::size_t>(n);
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (!wait_ready(fd, POLLOUT, deadline)) ctx.timed_out("writing to");
      } else if (errno != EINTR) {
        ctx.failed("writing to", error_code(errno, boost::system::system_category()));
      }
    }
  }

  std::size_t read_some(char* buf, std::size_t size, Clock::time_point deadline, bool wait_first) override {
    IoContext ctx{endpoint_, *timeout_};
    const int fd = socket_.native_handle();
    bool wait = wait_first;
    for (;;) {
      int flags = MSG_DONTWAIT;
      if (wait) {
        if (arm_receive_timeout(deadline)) {
          flags = 0;  // block, at most until SO_RCVTIMEO, which ends before the deadline
        } else if (!wait_ready(fd, POLLIN, deadline)) {
          ctx.timed_out("reading from");
        }
      }
      const ssize_t n = ::recv(fd, buf, size, flags);
      if (n > 0) return static_cast<std::size_t>(n);
      if (n == 0) ctx.failed("reading from", asio::error::eof);
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        // Nothing there yet, or SO_RCVTIMEO ran out: wait again with what is left.
        if (flags == 0) armed_ = Clock::duration::zero();
        wait = true;
      } else if (errno != EINTR) {
        ctx.failed("reading from", error_code(errno, boost::system::system_category()));
      }
    }
  }

  void close() noexcept override {
    error_code ignored;
    socket_.close(ignored);
  }

 private:
  static constexpr Clock::duration tick = std::chrono::milliseconds(10);  // a clock tick at HZ=100, the coarsest

  // True when a blocking recv() would end before the deadline: SO_RCVTIMEO is
  // then in place, set anew only when unset, too long for what is left, or
  // far shorter than it could be (so round trips that all start with the
  // same command timeout set it once).
  // False when too little is left for it: the caller ppoll()s.
  bool arm_receive_timeout(Clock::time_point deadline) {
    const Clock::duration left = deadline - Clock::now();
    if (left <= 2 * tick) return false;
    // Late by at most an eighth plus a tick, the timeout must end by the deadline.
    const Clock::duration want = (left - tick) * 3 / 4;
    if (armed_ == Clock::duration::zero() || armed_ + armed_ / 8 + tick > left || armed_ < want / 2) {
      const auto us = std::chrono::duration_cast<std::chrono::microseconds>(want).count();
      timeval tv{static_cast<time_t>(us / 1000000), static_cast<suseconds_t>(us % 1000000)};
      if (::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) return false;
      armed_ = want;
    }
    return true;
  }

  Socket socket_;
  const std::string& endpoint_;
  std::chrono::milliseconds* timeout_;
  Clock::duration armed_ = Clock::duration::zero();  // SO_RCVTIMEO in place; zero: unknown (never block on it)
};

class TlsTransport final : public Transport {
 public:
  using Stream = asio::ssl::stream<asio::ip::tcp::socket>;

  TlsTransport(asio::io_context& io, std::unique_ptr<asio::ssl::context> ssl, std::unique_ptr<Stream> stream,
               const std::string& endpoint, std::chrono::milliseconds* timeout)
      : io_(io), ssl_(std::move(ssl)), stream_(std::move(stream)), endpoint_(endpoint), timeout_(timeout) {}

  void write_all(const char* data, std::size_t size, Clock::time_point deadline) override {
    IoContext ctx{endpoint_, *timeout_};
    bool done = false;
    error_code result;
    asio::async_write(*stream_, asio::buffer(data, size), [&](const error_code& ec, std::size_t) {
      result = ec;
      done = true;
    });
    if (!run_until(io_, deadline, done, [this] { close(); })) ctx.timed_out("writing to");
    if (result) ctx.failed("writing to", result);
  }

  std::size_t read_some(char* buf, std::size_t size, Clock::time_point deadline, bool) override {
    IoContext ctx{endpoint_, *timeout_};
    bool done = false;
    error_code result;
    std::size_t got = 0;
    stream_->async_read_some(asio::buffer(buf, size), [&](const error_code& ec, std::size_t n) {
      result = ec;
      got = n;
      done = true;
    });
    if (!run_until(io_, deadline, done, [this] { close(); })) ctx.timed_out("reading from");
    if (result) ctx.failed("reading from", result);
    return got;
  }

  // Closes the TCP socket only: no close_notify is written, so closing in a
  // forked child or after a timeout puts nothing on the wire.
  void close() noexcept override {
    error_code ignored;
    stream_->lowest_layer().close(ignored);
  }

 private:
  asio::io_context& io_;
  std::unique_ptr<asio::ssl::context> ssl_;  // outlives stream_
  std::unique_ptr<Stream> stream_;
  const std::string& endpoint_;
  std::chrono::milliseconds* timeout_;
};

bool is_ip_literal(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// Built before any I/O, so unusable TLS files are an options error, not a
// network one.
std::unique_ptr<asio::ssl::context> make_ssl_context(const redis::ConnectionOptions& o, const std::string& endpoint) {
  namespace ssl = asio::ssl;
  auto context = std::make_unique<ssl::context>(ssl::context::tls_client);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  const std::string& name = o.tls.server_name.empty() ? o.host : o.tls.server_name;
  try {
    if (o.tls.verify_peer) {
      context->set_verify_mode(ssl::verify_peer);
      if (!o.tls.ca_file.empty()) context->load_verify_file(o.tls.ca_file);
      if (!o.tls.ca_dir.empty()) context->add_verify_path(o.tls.ca_dir);
      if (o.tls.ca_file.empty() && o.tls.ca_dir.empty()) context->set_default_verify_paths();
      context->set_verify_callback(ssl::host_name_verification(name));
    } else {
      context->set_verify_mode(ssl::verify_none);
    }
    if (!o.tls.cert_file.empty()) {
      context->use_certificate_chain_file(o.tls.cert_file);
      context->use_private_key_file(o.tls.key_file, ssl::context::pem);
    }
  } catch (const boost::system::system_error& e) {
    throw InvalidOptionsError("TLS settings for " + endpoint + " are unusable: " + e.code().message());
  }
  return context;
}

}  // namespace

std::unique_ptr<Transport> connect_unix(asio::io_context& io, const redis::ConnectionOptions& o,
                                        Clock::time_point deadline, const IoContext& ctx,
                                        std::chrono::milliseconds* command_timeout) {
  const std::string& endpoint = ctx.endpoint;
  using Protocol = asio::local::stream_protocol;
  Protocol::socket socket(io);
  bool done = false;
  error_code result;
  socket.async_connect(Protocol::endpoint(o.unix_path), [&](const error_code& ec) {
    result = ec;
    done = true;
  });
  if (!run_until(io, deadline, done, [&] { socket.close(result); })) ctx.timed_out("connecting to");
  if (result) connect_failed(endpoint, "connecting to", result);
  return std::make_unique<PlainTransport<Protocol::socket>>(std::move(socket), endpoint, command_timeout);
}

std::unique_ptr<Transport> connect_tcp(asio::io_context& io, const redis::ConnectionOptions& o,
                                       Clock::time_point deadline, const IoContext& ctx,
                                       std::chrono::milliseconds* command_timeout) {
  const std::string& endpoint = ctx.endpoint;
  using tcp = asio::ip::tcp;
  std::unique_ptr<asio::ssl::context> context;
  if (o.tls.enabled) context = make_ssl_context(o, endpoint);
  std::vector<tcp::endpoint> endpoints;
  error_code ec;
  auto address = asio::ip::make_address(o.host, ec);
  if (!ec) {
    endpoints.emplace_back(address, o.port);
  } else {
    endpoints = resolve(o.host, o.port, o.connect_timeout / 2, deadline, ctx);
  }

  tcp::socket socket(io);
  bool done = false;
  error_code result;
  asio::async_connect(socket, endpoints, [&](const error_code& e, const tcp::endpoint&) {
    result = e;
    done = true;
  });
  if (!run_until(io, deadline, done, [&] { socket.close(ec); })) ctx.timed_out("connecting to");
  if (result) connect_failed(endpoint, "connecting to", result);
  socket.set_option(tcp::no_delay(true), ec);
  socket.set_option(asio::socket_base::keep_alive(true), ec);

  if (!o.tls.enabled) {
    return std::make_unique<PlainTransport<tcp::socket>>(std::move(socket), endpoint, command_timeout);
  }

  namespace ssl = asio::ssl;
  const std::string& name = o.tls.server_name.empty() ? o.host : o.tls.server_name;
  auto stream = std::make_unique<TlsTransport::Stream>(std::move(socket), *context);
  if (!is_ip_literal(name) && SSL_set_tlsext_host_name(stream->native_handle(), name.c_str()) != 1) {
    throw ConnectError("TLS with " + endpoint + " failed: could not set the SNI host name");
  }
  bool shaken = false;
  error_code handshake;
  stream->async_handshake(ssl::stream_base::client, [&](const error_code& e) {
    handshake = e;
    shaken = true;
  });
  if (!run_until(io, deadline, shaken, [&] { stream->lowest_layer().close(ec); })) {
    ctx.timed_out("TLS handshake with");
  }
  if (handshake) connect_failed(endpoint, "TLS handshake with", handshake);
  return std::make_unique<TlsTransport>(io, std::move(context), std::move(stream), endpoint, command_timeout);
}

}  // namespace redis_session::detail
