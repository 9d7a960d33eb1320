// The connection: a transport carries the bytes (transport.cpp), Request
// writes RESP itself (request.cpp) and hiredis's reader decodes. Any failure
// mid round trip closes the socket, so a late reply is never read.

#include "redis_session/redis/connection.hpp"

#include <unistd.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "deadline.hpp"
#include "redis_session/detail/reply_reader.hpp"
#include "redis_session/error.hpp"
#include "transport.hpp"

namespace redis_session::redis {

namespace asio = boost::asio;
using detail::Clock;
using detail::IoContext;

struct Connection::Impl {
  std::string endpoint;
  std::chrono::milliseconds command_timeout;
  asio::io_context io{1};
  std::unique_ptr<detail::Transport> transport;
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
  void setup(const ConnectionOptions& o, Clock::time_point deadline);
  void round_trip(const Request& request, std::vector<Reply>& replies, Clock::time_point deadline);
};

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
    transport = detail::connect_unix(io, o, deadline, ctx, &command_timeout);
  } else {
    transport = detail::connect_tcp(io, o, deadline, ctx, &command_timeout);
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

bool Connection::broken() const noexcept {
  return impl_->broken;
}

bool Connection::failed_before_reply() const noexcept {
  return impl_->failed_before_reply;
}

std::uint64_t Connection::round_trips() const noexcept {
  return impl_->round_trips;
}

void Connection::close() noexcept {
  impl_->break_now();
}

void Connection::set_command_timeout(std::chrono::milliseconds timeout) {
  if (timeout <= std::chrono::milliseconds::zero()) throw InvalidOptionsError("command_timeout must be positive");
  impl_->command_timeout = timeout;
}

std::chrono::milliseconds Connection::command_timeout() const noexcept {
  return impl_->command_timeout;
}

const std::string& Connection::endpoint() const noexcept {
  return impl_->endpoint;
}

pid_t Connection::owner_pid() const noexcept {
  return impl_->pid;
}

}  // namespace redis_session::redis
