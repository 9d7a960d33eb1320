#pragma once
// SessionManager for Boost.Beast: open() reads every Cookie header of a
// request, commit() adds the Set-Cookie header to a response (with
// Cache-Control: no-store and Vary: Cookie), and fail() answers a library
// error: 4xx for the request's own input, 503 for a store failure.
//
//   auto session = redis_session::adapters::beast::open(manager, request);
//   session.set("user", "ann");
//   redis_session::adapters::beast::commit(manager, session, response);
//
// Thread safety: as SessionManager (the functions keep no state).

#include <boost/beast/http.hpp>
#include <string>
#include <string_view>
#include <utility>

#include "redis_session/adapters/detail/policy.hpp"
#include "redis_session/error.hpp"
#include "redis_session/session_manager.hpp"

namespace redis_session::adapters::beast {

namespace http = boost::beast::http;

namespace detail {

inline boost::beast::string_view to_beast(std::string_view s) {
  return {s.data(), s.size()};
}

// Beast's requests and responses for adapters::detail (see policy.hpp).
struct Traits {
  template <class Message>
  static auto lines(const Message& message, std::string_view name) {
    return message.equal_range(to_beast(name));
  }
  template <class Line>
  static auto value(const Line& line) {
    return line.value();
  }
  template <class Message>
  static void set(Message& message, std::string_view name, std::string_view value) {
    message.set(to_beast(name), to_beast(value));
  }
  template <class Message>
  static void add(Message& message, std::string_view name, std::string_view value) {
    message.insert(to_beast(name), to_beast(value));
  }
  template <class Fields>
  static void fail(http::response<http::string_body, Fields>& response, int status, std::string body) {
    response.result(static_cast<unsigned>(status));
    response.set(http::field::content_type, "text/plain");
    response.body() = std::move(body);
    response.prepare_payload();
  }
};

}  // namespace detail

template <class Body, class Fields>
Session open(SessionManager& manager, const http::request<Body, Fields>& request) {
  return adapters::detail::open<detail::Traits>(manager, request);
}

template <class Body, class Fields>
CommitResult commit(SessionManager& manager, Session& session, http::response<Body, Fields>& response) {
  return adapters::detail::commit<detail::Traits>(manager, session, response);
}

// A 503 naming the kind of failure (never its details: they may name hosts).
template <class Fields>
void store_unavailable(http::response<http::string_body, Fields>& response, const Error& error) {
  adapters::detail::store_unavailable<detail::Traits>(response, error);
}

// 400, 409, 413, 503 or 500 for `error`, as fail() answers it.
using adapters::detail::http_status;

// Any library error: 400 for the request's own bad input, 409 for a change
// the session's state refuses (SessionStateError), 413 for a value too large,
// 503 (store_unavailable) for a store failure, 500 for bad configuration.
template <class Fields>
void fail(http::response<http::string_body, Fields>& response, const Error& error) {
  adapters::detail::fail<detail::Traits>(response, error);
}

}  // namespace redis_session::adapters::beast

namespace redis_session {
// The name this adapter had before adapters/ (redis_session/beast.hpp).
namespace beast = adapters::beast;
}  // namespace redis_session
