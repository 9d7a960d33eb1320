#pragma once
// SessionManager for Boost.Beast: open() reads every Cookie header of a
// request, commit() adds the Set-Cookie header to a response, and
// store_unavailable() turns a store failure into a 503 with a short reason.
//
//   auto session = redis_session::beast::open(manager, request);
//   session.set("user", "ann");
//   redis_session::beast::commit(manager, session, response);
//
// Thread safety: as SessionManager (the functions keep no state).

#include <boost/beast/http.hpp>
#include <string>

#include "redis_session/error.hpp"
#include "redis_session/session_manager.hpp"

namespace redis_session::beast {

namespace http = boost::beast::http;

template <class Body, class Fields>
Session open(SessionManager& manager, const http::request<Body, Fields>& request) {
  // A client may send several Cookie headers; joining them lets the manager
  // see every value of our cookie and refuse ambiguous duplicates.
  std::string cookies;
  auto [first, last] = request.base().equal_range(http::field::cookie);
  for (auto it = first; it != last; ++it) {
    if (!cookies.empty()) cookies += "; ";
    cookies.append(it->value().data(), it->value().size());
  }
  return manager.open(cookies);
}

template <class Body, class Fields>
CommitResult commit(SessionManager& manager, Session& session, http::response<Body, Fields>& response) {
  CommitResult result = manager.commit(session);
  if (result.set_cookie) response.insert(http::field::set_cookie, *result.set_cookie);
  return result;
}

// A 503 naming the kind of failure (never its details: they may name hosts).
template <class Fields>
void store_unavailable(http::response<http::string_body, Fields>& response, const Error& error) {
  response.result(http::status::service_unavailable);
  response.set(http::field::content_type, "text/plain");
  response.set(http::field::retry_after, "1");
  response.body() = "session store unavailable: " + error.code().message() + "\n";
  response.prepare_payload();
}

}  // namespace redis_session::beast
