#pragma once
// SessionManager for cpp-httplib (Debian's libcpp-httplib-dev): open() reads
// every Cookie header of a request, commit() sets Set-Cookie on a response,
// store_unavailable() turns a store failure into a 503 with a short reason.
//
//   svr.Get("/count", [&](const httplib::Request& req, httplib::Response& res) {
//     auto session = redis_session::httplib_adapter::open(manager, req);
//     res.set_content(std::to_string(session.increment("count")), "text/plain");
//     redis_session::httplib_adapter::commit(manager, session, res);
//   });
//
// Thread safety: as SessionManager (the functions keep no state).

#include <httplib.h>

#include <string>

#include "redis_session/error.hpp"
#include "redis_session/session_manager.hpp"

namespace redis_session::httplib_adapter {

inline Session open(SessionManager& manager, const httplib::Request& request) {
  std::string cookies;
  std::size_t n = request.get_header_value_count("Cookie");
  for (std::size_t i = 0; i < n; ++i) {
    if (!cookies.empty()) cookies += "; ";
    cookies += request.get_header_value("Cookie", i);
  }
  return manager.open(cookies);
}

inline CommitResult commit(SessionManager& manager, Session& session, httplib::Response& response) {
  CommitResult result = manager.commit(session);
  if (result.set_cookie) response.set_header("Set-Cookie", *result.set_cookie);
  return result;
}

inline void store_unavailable(httplib::Response& response, const Error& error) {
  response.status = 503;
  response.set_header("Retry-After", "1");
  response.set_content("session store unavailable: " + error.code().message() + "\n", "text/plain");
}

}  // namespace redis_session::httplib_adapter
