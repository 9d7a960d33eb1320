#pragma once
// A blocking connection to one Redis server with deadlines on everything.
// Boost.Asio carries the bytes (TCP, Unix socket or TLS); Request encodes
// commands and hiredis parses replies. The Asio and hiredis types stay in src/.
//
// Failure model: after any I/O error, timeout, protocol error or exception in
// the middle of a command, the connection is broken() for good: it closes its
// socket and every later call throws IoError. A reply that arrives late can
// therefore never be read by the next caller. Error replies from the server
// (-ERR, -WRONGTYPE...) are ordinary replies and leave the connection usable.
//
// Thread safety: none. One thread uses a connection at a time (the pool hands
// each connection to one lease holder).
// Lifetime: the destructor closes the socket without writing to it, so
// destroying a connection inherited across fork() never disturbs the parent's.

#include <sys/types.h>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "redis_session/redis/options.hpp"
#include "redis_session/redis/reply.hpp"
#include "redis_session/redis/request.hpp"

namespace redis_session::redis {

class Connection {
 public:
  // Connects, completes TLS, AUTH, SELECT and CLIENT SETNAME within
  // options.connect_timeout. Throws InvalidOptionsError, ConnectError,
  // AuthError, TimeoutError or ServerError.
  explicit Connection(const ConnectionOptions& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends every command of the request in one write and reads exactly
  // request.size() replies into `replies` (resized), within command_timeout.
  // Error replies are returned, not thrown. Throws TimeoutError, IoError or
  // ProtocolError and breaks the connection.
  void execute(const Request& request, std::vector<Reply>& replies);
  std::vector<Reply> execute(const Request& request);

  // One command; an error reply is thrown as ServerError.
  Reply command(std::initializer_list<std::string_view> args);

  // PING within the command deadline; false (and broken) instead of throwing.
  bool ping() noexcept;

  bool broken() const noexcept;
  // After a failure: true when not one byte of a reply had arrived, so the
  // server may never have seen the request (e.g. a stale pooled socket).
  bool failed_before_reply() const noexcept;
  // Round trips completed; 0 for a connection never used since connecting.
  std::uint64_t round_trips() const noexcept;
  // Closes the socket; the connection is broken afterwards. Writes nothing.
  void close() noexcept;

  void set_command_timeout(std::chrono::milliseconds timeout);
  std::chrono::milliseconds command_timeout() const noexcept;

  const std::string& endpoint() const noexcept;
  // The process that opened the socket; a forked child must not use it.
  pid_t owner_pid() const noexcept;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace redis_session::redis
