#pragma once
// Every failure in redis_session reaches the caller as an exception derived
// from redis_session::Error. Each kind is a distinct type so callers can catch
// exactly what they can handle (a pool timeout is not a broken server), and
// each carries a machine-readable std::error_code for logging and metrics.
//
// Messages say what failed and where (host, key, field), never a password or
// a session's contents.

#include <stdexcept>
#include <string>
#include <system_error>

namespace redis_session {

enum class Errc {
  pool_timeout = 1,  // acquire() gave up after acquire_timeout
  pool_closed,       // the pool was closed while waiting or before acquire
  connect_failed,    // DNS, TCP, Unix socket or TLS handshake failed
  auth_failed,       // AUTH / ACL rejected the credentials
  timeout,           // a connect or command deadline passed
  io_error,          // the connection was closed or reset, or a write failed
  protocol_error,    // the server sent bytes that are not valid RESP, or too much
  server_error,      // the server answered with an error reply (-ERR, -WRONGTYPE, ...)
  decode_error,      // stored bytes could not be turned back into a value
  invalid_options,   // a bad configuration option or URL, rejected before any I/O
  value_too_large,   // a value exceeds the configured maximum; nothing written
  invalid_argument,  // the caller's own input: a bad field name or id, an unencodable value,
                     // incrementing a non-integer, changing a destroyed session; nothing written
};

const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

// The base of every exception the library throws.
//
// Thread safety: immutable once thrown; const members may be called from
// any thread.
class Error : public std::runtime_error {
 public:
  Error(Errc code, const std::string& what) : std::runtime_error(what), code_(code) {}
  Errc errc() const noexcept { return code_; }
  std::error_code code() const noexcept { return make_error_code(code_); }

 private:
  Errc code_;
};

namespace detail {

// Every kind of error below is a `Base` whose code is `Code`: one template
// holds the constructors a dozen classes of the same shape would repeat. The
// kinds stay classes of their own (not aliases), so they can be forward
// declared and keep their names in type_info and diagnostics. The protected
// constructor lets a kind be the base of a narrower kind (AuthError is a
// ConnectError with a code of its own).
template <class Base, Errc Code>
class ErrorKind : public Base {
 public:
  explicit ErrorKind(const std::string& what) : Base(Code, what) {}

 protected:
  ErrorKind(Errc code, const std::string& what) : Base(code, what) {}
};

}  // namespace detail

// A bad configuration option or URL; thrown before any I/O happens, when
// the object is built.
class InvalidOptionsError : public detail::ErrorKind<Error, Errc::invalid_options> {
 public:
  using ErrorKind::ErrorKind;
};

// What a request's own input causes, not a failing store: a bad field name or
// session id, a value the codec cannot encode. Nothing was written. A web
// app answers 400 (the adapters' fail() does), never 503.
class InvalidArgumentError : public detail::ErrorKind<Error, Errc::invalid_argument> {
 public:
  using ErrorKind::ErrorKind;
};

// The input conflicts with the session's state: changing a destroyed
// session, incrementing a field that holds no integer or would overflow.
// Nothing was written. Code invalid_argument too; adapters answer 409.
class SessionStateError : public detail::ErrorKind<InvalidArgumentError, Errc::invalid_argument> {
 public:
  using ErrorKind::ErrorKind;
};

// Failures of the connection pool itself (the server may be fine).
class PoolError : public Error {
 protected:
  using Error::Error;
};

class PoolTimeoutError : public detail::ErrorKind<PoolError, Errc::pool_timeout> {
 public:
  using ErrorKind::ErrorKind;
};
class PoolClosedError : public detail::ErrorKind<PoolError, Errc::pool_closed> {
 public:
  using ErrorKind::ErrorKind;
};

// The connection could not be used: it is broken afterwards and never reused.
class ConnectionError : public Error {
 protected:
  using Error::Error;
};

class ConnectError : public detail::ErrorKind<ConnectionError, Errc::connect_failed> {
 public:
  using ErrorKind::ErrorKind;
};
// Credentials refused during connection setup. A ConnectError, so code that
// only cares "could not connect" catches it too.
class AuthError : public detail::ErrorKind<ConnectError, Errc::auth_failed> {
 public:
  using ErrorKind::ErrorKind;
};
class TimeoutError : public detail::ErrorKind<ConnectionError, Errc::timeout> {
 public:
  using ErrorKind::ErrorKind;
};
class IoError : public detail::ErrorKind<ConnectionError, Errc::io_error> {
 public:
  using ErrorKind::ErrorKind;
};
class ProtocolError : public detail::ErrorKind<ConnectionError, Errc::protocol_error> {
 public:
  using ErrorKind::ErrorKind;
};

// The server answered with an error reply. The connection stays usable.
// prefix() is the error's first word ("ERR", "WRONGTYPE", "NOSCRIPT", ...).
class ServerError : public Error {
 public:
  explicit ServerError(const std::string& server_text) : ServerError(server_text, std::string()) {}
  // `context` says what was being done ("SELECT on host:port"); it prefixes the message.
  ServerError(const std::string& server_text, const std::string& context)
      : Error(Errc::server_error, context.empty() ? server_text : context + ": " + server_text),
        prefix_(server_text.substr(0, server_text.find(' '))) {}
  const std::string& prefix() const noexcept { return prefix_; }

 private:
  std::string prefix_;
};

// Stored bytes could not be decoded. Names the key and field, never the bytes.
class DecodeError : public detail::ErrorKind<Error, Errc::decode_error> {
 public:
  using ErrorKind::ErrorKind;
};

class ValueTooLargeError : public detail::ErrorKind<Error, Errc::value_too_large> {
 public:
  using ErrorKind::ErrorKind;
};

}  // namespace redis_session

namespace std {
template <>
struct is_error_code_enum<redis_session::Errc> : true_type {};
}  // namespace std
