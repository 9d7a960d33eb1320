#pragma once
// SessionManager for cpp-httplib (Debian's libcpp-httplib-dev): open() reads
// every Cookie header of a request, commit() sets Set-Cookie on a response
// (with Cache-Control: no-store and Vary: Cookie), fail() answers a library
// error: 4xx for the request's own input, 503 for a store failure.
//
//   svr.Get("/count", [&](const httplib::Request& req, httplib::Response& res) {
//     auto session = redis_session::adapters::httplib::open(manager, req);
//     res.set_content(std::to_string(session.increment("count")), "text/plain");
//     redis_session::adapters::httplib::commit(manager, session, res);
//   });
//
// Inside this namespace `httplib` names the adapter, so the library is
// always spelled ::httplib.
//
// Thread safety: as SessionManager (the functions keep no state).

#include <httplib.h>

#include <string>
#include <string_view>
#include <utility>

#include "redis_session/adapters/detail/policy.hpp"
#include "redis_session/error.hpp"
#include "redis_session/session_manager.hpp"

namespace redis_session::adapters::httplib {

namespace detail {

// cpp-httplib's requests and responses for adapters::detail (see
// policy.hpp): both keep their headers in a case-insensitive multimap.
struct Traits {
  template <class Message>
  static auto lines(const Message& message, std::string_view name) {
    return message.headers.equal_range(std::string(name));
  }
  static const std::string& value(const std::pair<const std::string, std::string>& line) { return line.second; }
  static void set(::httplib::Response& response, std::string_view name, std::string_view value) {
    response.headers.erase(std::string(name));
    add(response, name, value);
  }
  // set_header refuses values with CR or LF: no header injection.
  static void add(::httplib::Response& response, std::string_view name, std::string_view value) {
    response.set_header(std::string(name), std::string(value));
  }
  static void fail(::httplib::Response& response, int status, std::string body) {
    response.status = status;
    response.set_content(std::move(body), "text/plain");
  }
};

}  // namespace detail

inline Session open(SessionManager& manager, const ::httplib::Request& request) {
  return adapters::detail::open<detail::Traits>(manager, request);
}

inline CommitResult commit(SessionManager& manager, Session& session, ::httplib::Response& response) {
  return adapters::detail::commit<detail::Traits>(manager, session, response);
}

inline void store_unavailable(::httplib::Response& response, const Error& error) {
  adapters::detail::store_unavailable<detail::Traits>(response, error);
}

// 400, 409, 413, 503 or 500 for `error`, as fail() answers it.
using adapters::detail::http_status;

// Any library error: 400 for the request's own bad input, 409 for a change
// the session's state refuses (SessionStateError), 413 for a value too large,
// 503 (store_unavailable) for a store failure, 500 for bad configuration.
inline void fail(::httplib::Response& response, const Error& error) {
  adapters::detail::fail<detail::Traits>(response, error);
}

}  // namespace redis_session::adapters::httplib

namespace redis_session {
// The name this adapter had before adapters/ (redis_session/httplib.hpp).
namespace httplib_adapter = adapters::httplib;
}  // namespace redis_session
