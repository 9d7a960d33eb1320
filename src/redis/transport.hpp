#pragma once
// The byte streams under a Connection: TCP and Unix sockets driven by plain
// system calls, TLS by Asio's SSL stream. Private to src/redis/.

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <memory>

#include "deadline.hpp"
#include "redis_session/redis/options.hpp"

namespace redis_session::detail {

// Moves bytes within a deadline, or throws TimeoutError / IoError.
//
// Thread safety: none; the connection that owns it uses it from one thread.
// Lifetime: it refers to the endpoint name and command timeout it was made
// with, which outlive it (both are members of the owning connection).
class Transport {
 public:
  virtual ~Transport() = default;
  virtual void write_all(const char* data, std::size_t size, Clock::time_point deadline) = 0;
  // At least one byte. `wait_first`: data is unlikely to be there yet (we just
  // wrote the request), so wait for readability before trying the read.
  virtual std::size_t read_some(char* buf, std::size_t size, Clock::time_point deadline, bool wait_first) = 0;
  virtual void close() noexcept = 0;
};

// Connect to o.unix_path, or to o.host:o.port (resolving it, and with TLS
// when o.tls.enabled), by the deadline. Connect errors name ctx.endpoint and
// ctx.timeout; the transport's own errors name ctx.endpoint and
// *command_timeout as it is at the time. Unusable TLS files are an
// InvalidOptionsError, found before any I/O.
std::unique_ptr<Transport> connect_unix(boost::asio::io_context& io, const redis::ConnectionOptions& o,
                                        Clock::time_point deadline, const IoContext& ctx,
                                        std::chrono::milliseconds* command_timeout);
std::unique_ptr<Transport> connect_tcp(boost::asio::io_context& io, const redis::ConnectionOptions& o,
                                       Clock::time_point deadline, const IoContext& ctx,
                                       std::chrono::milliseconds* command_timeout);

}  // namespace redis_session::detail
