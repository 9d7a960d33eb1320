#pragma once
// What every framework adapter does the same way, written once: how several
// Cookie header lines become one value, which headers travel with a
// Set-Cookie, and what a store failure answers. Internal.
//
// An adapter describes its request and response types with a traits class
// of static functions (only those a function here uses are needed):
//   lines(message, name)        the [first, last) iterator pair of the header lines `name`
//   value(line)                 a line's value (anything with data() and size())
//   set(message, name, value)   replace every line `name` by one
//   add(message, name, value)   one more line
//   fail(response, status, body)  the status and a text/plain body

#include <cctype>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "redis_session/error.hpp"
#include "redis_session/session_manager.hpp"

namespace redis_session::adapters::detail {

// The header lines called `name`, joined by `separator`. A client may split
// its cookies over several Cookie lines ("; " joins them); list headers such
// as Vary may come as several lines too (", " joins them, RFC 9110 5.3).
template <class Traits, class Message>
std::string joined_header(const Message& message, std::string_view name, std::string_view separator) {
  std::string joined;
  const auto [first, last] = Traits::lines(message, name);
  for (auto it = first; it != last; ++it) {
    const auto& line = Traits::value(*it);
    if (!joined.empty()) joined += separator;
    joined.append(line.data(), line.size());
  }
  return joined;
}

// Every Cookie line of a request: the manager sees each value of our cookie
// and can refuse ambiguous duplicates.
template <class Traits, class Request>
Session open(SessionManager& manager, const Request& request) {
  return manager.open(joined_header<Traits>(request, "Cookie", "; "));
}

// Whether a comma-separated header value (Vary, Cache-Control) lists
// `token`, compared without case; a directive's "=argument" is ignored.
inline bool has_token(std::string_view list, std::string_view token) {
  auto same = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
        return false;
      }
    }
    return true;
  };
  while (!list.empty()) {
    const auto comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    item = item.substr(0, item.find('='));
    const auto first = item.find_first_not_of(" \t");
    if (first == std::string_view::npos) continue;
    item = item.substr(first, item.find_last_not_of(" \t") - first + 1);
    if (same(item, token)) return true;
  }
  return false;
}

// Commits, and when a Set-Cookie goes out, makes the response one no cache
// keeps (no-store) or hands to a client that sent another cookie (Vary:
// Cookie): a cached Set-Cookie would give one visitor's session to the next.
// Responses without Set-Cookie keep the caching headers the handler chose.
template <class Traits, class Response>
CommitResult commit(SessionManager& manager, Session& session, Response& response) {
  CommitResult result = manager.commit(session);
  if (!result.set_cookie) return result;
  Traits::add(response, "Set-Cookie", *result.set_cookie);
  if (!has_token(joined_header<Traits>(response, "Cache-Control", ", "), "no-store")) {
    Traits::set(response, "Cache-Control", "no-store");
  }
  const std::string vary = joined_header<Traits>(response, "Vary", ", ");
  if (!has_token(vary, "Cookie") && !has_token(vary, "*")) {
    Traits::set(response, "Vary", vary.empty() ? std::string("Cookie") : vary + ", Cookie");
  }
  return result;
}

// A 503 naming the kind of failure (never its details: they may name hosts),
// with Retry-After so a client or balancer backs off briefly.
template <class Traits, class Response>
void store_unavailable(Response& response, const Error& error) {
  Traits::set(response, "Retry-After", "1");
  Traits::fail(response, 503, "session store unavailable: " + error.code().message() + "\n");
}

// The HTTP status a library error answers: what the request's own input
// caused is the client's 4xx, and only a failing store is a 503.
inline int http_status(const Error& error) noexcept {
  if (dynamic_cast<const SessionStateError*>(&error) != nullptr) return 409;
  switch (error.errc()) {
    case Errc::invalid_argument: return 400;
    case Errc::value_too_large: return 413;
    case Errc::invalid_options: return 500;  // the server's configuration, not the store
    default: return 503;
  }
}

// Answers `error` with http_status(): a 4xx says what was wrong with the
// input (messages name a field at most, never a value or an id), a 503 is
// store_unavailable()'s.
template <class Traits, class Response>
void fail(Response& response, const Error& error) {
  const int status = http_status(error);
  if (status == 503) return store_unavailable<Traits>(response, error);
  Traits::fail(response, status, status == 500 ? std::string("internal error\n") : error.what() + std::string("\n"));
}

}  // namespace redis_session::adapters::detail
