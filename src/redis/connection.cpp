// The transport: Boost.Asio sockets carry the bytes, Request writes RESP
// itself and hiredis's reader decodes. Plain TCP and Unix sockets wait for a
// reply in a blocking recv() bounded by SO_RCVTIMEO (one system call a round
// trip, like hiredis's blocking mode); TLS runs Asio's async operations on a per-connection
// io_context bounded by run_until(deadline). Either way a missed deadline
// closes the socket.

#include "redis_session/redis/connection.hpp"

#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>

#include "redis_session/detail/reply_reader.hpp"
#include "redis_session/error.hpp"

namespace redis_session::redis {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

// ---------------------------------------------------------------- Request

namespace {

std::size_t decimal_digits(std::size_t n) noexcept {
  std::size_t digits = 1;
  for (; n >= 10; n /= 10) ++digits;
  return digits;
}

// Writes "<kind><n>\r\n", the RESP header of an array or a bulk string, of
// exactly 1 + decimal_digits(n) + 2 bytes.
char* put_header(char* out, char kind, std::size_t n) noexcept {
  *out++ = kind;
  out = std::to_chars(out, out + std::numeric_limits<std::size_t>::digits10 + 1, n).ptr;
  *out++ = '\r';
  *out++ = '\n';
  return out;
}

}  // namespace

// The same bytes as hiredis's redisFormatCommandArgv (tests/unit/request_test
// holds them equal), written straight into the payload: hiredis mallocs a
// buffer of its own and sprintf()s every length, about 900 instructions an
// argument, and its result had to be copied in.
Request& Request::push_argv(const std::string_view* args, std::size_t n) {
  if (n == 0) throw InvalidOptionsError("a Redis command needs at least one argument");
  std::size_t size = 1 + decimal_digits(n) + 2;
  for (std::size_t i = 0; i < n; ++i) size += 1 + decimal_digits(args[i].size()) + 2 + args[i].size() + 2;
  const std::size_t start = payload_.size();
  payload_.resize(start + size);
  char* out = put_header(payload_.data() + start, '*', n);
  for (std::size_t i = 0; i < n; ++i) {
    out = put_header(out, '$', args[i].size());
    if (!args[i].empty()) std::memcpy(out, args[i].data(), args[i].size());  // data() of an empty view may be null
    out += args[i].size();
    *out++ = '\r';
    *out++ = '\n';
  }
  ++count_;
  return *this;
}

Request& Request::push(std::initializer_list<std::string_view> args) { return push_argv(args.begin(), args.size()); }

Request& Request::push(const std::vector<std::string_view>& args) { return push_argv(args.data(), args.size()); }

Request& Request::push(const std::vector<std::string>& args) {
  std::vector<std::string_view> views(args.begin(), args.end());
  return push_argv(views.data(), views.size());
}

// ---------------------------------------------------------------- transports

namespace {

// Moves bytes within a deadline, or throws TimeoutError / IoError.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual void write_all(const char* data, std::size_t size, Clock::time_point deadline) = 0;
  // At least one byte. `wait_first`: data is unlikely to be there yet (we just
  // wrote the request), so wait for readability before trying the read.
  virtual std::size_t read_some(char* buf, std::size_t size, Clock::time_point deadline, bool wait_first) = 0;
  virtual void close() noexcept = 0;
};

struct IoContext {
  const std::string& endpoint;
  std::chrono::milliseconds timeout;

  [[noreturn]] void timed_out(const char* what) const {
    throw TimeoutError(std::string(what) + " " + endpoint + " timed out after " + std::to_string(timeout.count()) +
                       " ms");
  }
  [[noreturn]] void failed(const char* what, const error_code& ec) const {
    if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
      throw IoError("connection to " + endpoint + " closed by the server while " + what);
    }
    throw IoError(std::string(what) + " " + endpoint + " failed: " + ec.message());
  }
};

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

// Runs `io` until `done` or the deadline; on a missed deadline closes via
// `cancel`, lets the aborted handlers run (they reference the caller's
// stack), and reports false.
template <class Cancel>
bool run_until(asio::io_context& io, Clock::time_point deadline, const bool& done, Cancel&& cancel) {
  io.restart();
  while (!done && Clock::now() < deadline) {
    io.run_one_until(deadline);
  }
  if (done) return true;
  cancel();
  io.restart();
  io.run();
  return false;
}

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

}  // namespace

// ---------------------------------------------------------------- Connection

struct Connection::Impl {
  std::string endpoint;
  std::chrono::milliseconds command_timeout;
  asio::io_context io{1};
  std::unique_ptr<Transport> transport;
  detail::ReplyReader reader;
  std::array<char, 16 * 1024> buffer{};
  bool broken = false;
  bool failed_before_reply = false;
  bool got_reply_bytes = false;  // during the current round trip
  std::uint64_t round_trips = 0;
  pid_t pid = ::getpid();

  explicit Impl(const ConnectionOptions& o)
      : endpoint(o.endpoint()), command_timeout(o.command_timeout), reader(detail::ReplyLimits{o.max_reply_bytes}) {}

  void break_now() noexcept {
    broken = true;
    if (transport) transport->close();
  }

  void connect(const ConnectionOptions& o, Clock::time_point deadline);
  void connect_unix(const ConnectionOptions& o, Clock::time_point deadline, const IoContext& ctx);
  void connect_tcp(const ConnectionOptions& o, Clock::time_point deadline, const IoContext& ctx);
  void setup(const ConnectionOptions& o, Clock::time_point deadline);
  void round_trip(const Request& request, std::vector<Reply>& replies, Clock::time_point deadline);
};

namespace {

[[noreturn]] void connect_failed(const std::string& endpoint, const char* step, const error_code& ec) {
  throw ConnectError(std::string(step) + " " + endpoint + " failed: " + ec.message());
}

// getaddrinfo() cannot be cancelled, and Asio's resolver waits for its lookup
// thread after a cancel, so a name server that does not answer held the
// caller past connect_timeout (10 s and more with glibc's defaults). The
// lookup runs on a thread of its own, which the caller stops waiting for at
// the deadline; the thread ends, and frees what it found, whenever
// getaddrinfo returns. A connect to a name whose latest lookup started less
// than half its connect_timeout ago waits for that one (many connects at
// once share one lookup); an older one is presumed lost (one dropped UDP
// reply costs glibc 5 s: the retry right after a timed-out connect asks
// again) and the name is asked again, with at most max_lookups_per_name
// running: a pool that retries its connects while the name server is silent
// does not pile up threads.
constexpr std::size_t max_lookups_per_name = 4;

struct Lookup {
  Clock::time_point started = Clock::now();
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done = false;
  int status = 0;
  int system_errno = 0;
  std::vector<asio::ip::tcp::endpoint> found;
};

// The lookups running, by "host port", oldest first. Never destroyed (a
// lookup thread may outlive main); a child after fork() starts with none,
// as its parent's lookup threads did not come with it.
struct Lookups {
  std::mutex mutex;
  std::map<std::string, std::vector<std::shared_ptr<Lookup>>> running;

  static Lookups& get() {
    static Lookups* const lookups = [] {
      auto* l = new Lookups;
      ::pthread_atfork([] { get().mutex.lock(); }, [] { get().mutex.unlock(); },
                       [] {
                         Lookups& c = get();
                         c.running.clear();
                         c.mutex.unlock();
                       });
      return l;
    }();
    return *lookups;
  }
};

// A finished lookup: connects from now on do not wait for it.
void forget(const std::string& name, const std::shared_ptr<Lookup>& lookup) {
  Lookups& lookups = Lookups::get();
  std::lock_guard<std::mutex> lock(lookups.mutex);
  auto it = lookups.running.find(name);
  if (it == lookups.running.end()) return;
  std::vector<std::shared_ptr<Lookup>>& running = it->second;
  running.erase(std::remove(running.begin(), running.end(), lookup), running.end());
  if (running.empty()) lookups.running.erase(it);
}

std::shared_ptr<Lookup> start_lookup(const std::string& host, std::uint16_t port, std::chrono::milliseconds fresh) {
  using tcp = asio::ip::tcp;
  Lookups& lookups = Lookups::get();
  std::string name = host + " " + std::to_string(port);
  std::lock_guard<std::mutex> registry_lock(lookups.mutex);
  std::vector<std::shared_ptr<Lookup>>& running = lookups.running[name];
  if (!running.empty() &&
      (Clock::now() - running.back()->started < fresh || running.size() >= max_lookups_per_name)) {
    return running.back();
  }
  auto lookup = std::make_shared<Lookup>();
  running.push_back(lookup);
  try {
    std::thread([lookup, host, port, name] {
      addrinfo hints{};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      hints.ai_protocol = IPPROTO_TCP;
      hints.ai_flags = AI_NUMERICSERV;
      addrinfo* list = nullptr;
      const int status = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &list);
      const int system_errno = errno;
      std::vector<tcp::endpoint> found;
      for (const addrinfo* a = status == 0 ? list : nullptr; a; a = a->ai_next) {
        tcp::endpoint e;
        if ((a->ai_family != AF_INET && a->ai_family != AF_INET6) || a->ai_addrlen > e.capacity()) continue;
        std::memcpy(e.data(), a->ai_addr, a->ai_addrlen);
        e.resize(a->ai_addrlen);
        found.push_back(e);
      }
      if (list) ::freeaddrinfo(list);
      forget(name, lookup);
      std::lock_guard<std::mutex> lock(lookup->mutex);
      lookup->status = status;
      lookup->system_errno = system_errno;
      lookup->found = std::move(found);
      lookup->done = true;
      lookup->done_cv.notify_all();
    }).detach();
  } catch (const std::system_error&) {
    running.pop_back();
    if (running.empty()) lookups.running.erase(name);
    throw;
  }
  return lookup;
}

std::vector<asio::ip::tcp::endpoint> resolve(const std::string& host, std::uint16_t port,
                                             std::chrono::milliseconds fresh, Clock::time_point deadline,
                                             const IoContext& ctx) {
  std::shared_ptr<Lookup> lookup;
  try {
    lookup = start_lookup(host, port, fresh);
  } catch (const std::system_error& e) {
    throw ConnectError("resolving " + ctx.endpoint + " failed: no thread for the lookup: " + e.what());
  }
  std::unique_lock<std::mutex> lock(lookup->mutex);
  if (!lookup->done_cv.wait_until(lock, deadline, [&] { return lookup->done; })) ctx.timed_out("resolving");
  if (lookup->status != 0) {
    throw ConnectError("resolving " + ctx.endpoint + " failed: " +
                       (lookup->status == EAI_SYSTEM ? std::strerror(lookup->system_errno)
                                                     : ::gai_strerror(lookup->status)));
  }
  if (lookup->found.empty()) throw ConnectError("resolving " + ctx.endpoint + " failed: no IPv4 or IPv6 address");
  return lookup->found;
}

}  // namespace

void Connection::Impl::connect_unix(const ConnectionOptions& o, Clock::time_point deadline, const IoContext& ctx) {
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
  transport = std::make_unique<PlainTransport<Protocol::socket>>(std::move(socket), endpoint, &command_timeout);
}

// Built before any I/O, so unusable TLS files are an options error, not a
// network one.
std::unique_ptr<asio::ssl::context> make_ssl_context(const ConnectionOptions& o, const std::string& endpoint) {
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

void Connection::Impl::connect_tcp(const ConnectionOptions& o, Clock::time_point deadline, const IoContext& ctx) {
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
    transport = std::make_unique<PlainTransport<tcp::socket>>(std::move(socket), endpoint, &command_timeout);
    return;
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
  transport = std::make_unique<TlsTransport>(io, std::move(context), std::move(stream), endpoint, &command_timeout);
}

void Connection::Impl::setup(const ConnectionOptions& o, Clock::time_point deadline) {
  Request request;
  bool auth = !o.password.empty();
  if (auth) {
    if (o.username.empty()) {
      request.push({"AUTH", o.password});
    } else {
      request.push({"AUTH", o.username, o.password});
    }
  }
  std::string db = std::to_string(o.db);
  if (o.db != 0) request.push({"SELECT", db});
  if (!o.client_name.empty()) request.push({"CLIENT", "SETNAME", o.client_name});
  if (request.empty()) return;

  std::vector<Reply> replies;
  round_trip(request, replies, deadline);
  std::size_t i = 0;
  if (auth && replies[i++].is_error()) {
    throw AuthError("authentication to " + endpoint + " failed: " + replies[0].str);
  }
  for (; i < replies.size(); ++i) {
    const Reply& r = replies[i];
    if (!r.is_error()) continue;
    if (r.str.rfind("NOAUTH", 0) == 0) throw AuthError("authentication to " + endpoint + " required: " + r.str);
    throw ServerError(r.str, (o.db != 0 && i == (auth ? 1u : 0u) ? "SELECT " + db : std::string("CLIENT SETNAME")) +
                                 " on " + endpoint);
  }
}

void Connection::Impl::connect(const ConnectionOptions& o, Clock::time_point deadline) {
  IoContext ctx{endpoint, o.connect_timeout};
  if (!o.unix_path.empty()) {
    connect_unix(o, deadline, ctx);
  } else {
    connect_tcp(o, deadline, ctx);
  }
  try {
    setup(o, deadline);
  } catch (const TimeoutError&) {
    ctx.timed_out("connecting to");  // the connect deadline covers AUTH/SELECT too
  }
  round_trips = 0;  // setup is not a use: round_trips() tells a fresh connection from one that worked
}

void Connection::Impl::round_trip(const Request& request, std::vector<Reply>& replies, Clock::time_point deadline) {
  got_reply_bytes = false;
  transport->write_all(request.payload().data(), request.payload().size(), deadline);
  replies.clear();
  replies.reserve(request.size());
  bool wait_first = true;
  for (;;) {
    while (auto reply = reader.next()) {
      replies.push_back(std::move(*reply));
      if (replies.size() == request.size()) {
        if (reader.has_partial()) {
          throw ProtocolError("invalid reply from the server: " + endpoint + " sent more replies than requested");
        }
        ++round_trips;
        return;
      }
    }
    std::size_t n = transport->read_some(buffer.data(), buffer.size(), deadline, wait_first);
    got_reply_bytes = true;
    wait_first = false;
    reader.feed(buffer.data(), n);
  }
}

Connection::Connection(const ConnectionOptions& options) {
  options.validate();
  impl_ = std::make_unique<Impl>(options);
  try {
    impl_->connect(options, Clock::now() + options.connect_timeout);
  } catch (...) {
    impl_->break_now();
    throw;
  }
}

Connection::~Connection() {
  if (impl_) impl_->break_now();
}

void Connection::execute(const Request& request, std::vector<Reply>& replies) {
  Impl& s = *impl_;
  if (s.broken) throw IoError("connection to " + s.endpoint + " is broken by an earlier failure");
  if (request.empty()) {
    replies.clear();
    return;
  }
  try {
    s.round_trip(request, replies, Clock::now() + s.command_timeout);
  } catch (...) {
    s.failed_before_reply = !s.got_reply_bytes;
    s.break_now();  // a reply may still be on its way; nobody may read it
    throw;
  }
}

std::vector<Reply> Connection::execute(const Request& request) {
  std::vector<Reply> replies;
  execute(request, replies);
  return replies;
}

Reply Connection::command(std::initializer_list<std::string_view> args) {
  Request request(args);
  std::vector<Reply> replies;
  execute(request, replies);
  if (replies[0].is_error()) throw ServerError(replies[0].str, std::string(*args.begin()) + " on " + endpoint());
  return std::move(replies[0]);
}

bool Connection::ping() noexcept {
  try {
    Reply r = command({"PING"});
    return r.is_status("PONG");
  } catch (const std::exception&) {
    impl_->break_now();  // a server that cannot answer PING is not worth keeping
    return false;
  }
}

bool Connection::broken() const noexcept { return impl_->broken; }

bool Connection::failed_before_reply() const noexcept { return impl_->failed_before_reply; }

std::uint64_t Connection::round_trips() const noexcept { return impl_->round_trips; }

void Connection::close() noexcept { impl_->break_now(); }

void Connection::set_command_timeout(std::chrono::milliseconds timeout) {
  if (timeout <= std::chrono::milliseconds::zero()) throw InvalidOptionsError("command_timeout must be positive");
  impl_->command_timeout = timeout;
}

std::chrono::milliseconds Connection::command_timeout() const noexcept { return impl_->command_timeout; }

const std::string& Connection::endpoint() const noexcept { return impl_->endpoint; }

pid_t Connection::owner_pid() const noexcept { return impl_->pid; }

}  // namespace redis_session::redis
