#pragma once
// What the transports, the resolver and the connection share about a timed
// step: the clock, the errors that name the endpoint and the timeout, and
// running Asio work until a deadline. Private to src/redis/.

#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <string>

#include "redis_session/error.hpp"

namespace redis_session::detail {

using Clock = std::chrono::steady_clock;

// The endpoint and timeout of the step under way, so every error it throws
// says where and after how long.
struct IoContext {
  const std::string& endpoint;
  std::chrono::milliseconds timeout;

  [[noreturn]] void timed_out(const char* what) const {
    throw TimeoutError(std::string(what) + " " + endpoint + " timed out after " + std::to_string(timeout.count()) +
                       " ms");
  }
  [[noreturn]] void failed(const char* what, const boost::system::error_code& ec) const {
    if (ec == boost::asio::error::eof || ec == boost::asio::ssl::error::stream_truncated) {
      throw IoError("connection to " + endpoint + " closed by the server while " + what);
    }
    throw IoError(std::string(what) + " " + endpoint + " failed: " + ec.message());
  }
};

[[noreturn]] inline void connect_failed(const std::string& endpoint, const char* step,
                                        const boost::system::error_code& ec) {
  throw ConnectError(std::string(step) + " " + endpoint + " failed: " + ec.message());
}

// Runs `io` until `done` or the deadline; on a missed deadline closes via
// `cancel`, lets the aborted handlers run (they reference the caller's
// stack), and reports false.
template <class Cancel>
bool run_until(boost::asio::io_context& io, Clock::time_point deadline, const bool& done, Cancel&& cancel) {
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

}  // namespace redis_session::detail
