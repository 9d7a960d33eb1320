// The cookie side of session_manager.hpp: reading our cookie out of a
// Cookie header, and the rules a cookie's name and attributes must follow
// before the manager will put them into a Set-Cookie header.

#include <string>
#include <string_view>
#include <vector>

#include "redis_session/error.hpp"
#include "redis_session/session_manager.hpp"

namespace redis_session {

namespace detail {

std::vector<std::string_view> cookie_values(std::string_view header, std::string_view name) {
  std::vector<std::string_view> out;
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  };
  while (!header.empty()) {
    auto semi = header.find(';');
    std::string_view pair = trim(header.substr(0, semi));
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    auto eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    if (trim(pair.substr(0, eq)) != name) continue;
    std::string_view value = trim(pair.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    out.push_back(value);
  }
  return out;
}

}  // namespace detail

namespace {

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return false;
    if (std::string_view("()<>@,;:\\\"/[]?={}").find(c) != std::string_view::npos) return false;
  }
  return true;
}

bool is_attribute_value(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f || c == ';') return false;
  }
  return true;
}

}  // namespace

void SessionManagerOptions::validate() const {
  auto bad = [](const std::string& why) { throw InvalidOptionsError("invalid session manager options: " + why); };
  if (!is_token(cookie.name)) bad("cookie.name must be a non-empty cookie token");
  if (cookie.path.empty() || cookie.path.front() != '/' || !is_attribute_value(cookie.path)) {
    bad("cookie.path must start with '/' and contain no ';' or control characters");
  }
  if (!is_attribute_value(cookie.domain)) bad("cookie.domain has ';' or control characters");
  if (cookie.same_site == SameSite::none && !cookie.secure) bad("SameSite=None requires secure cookies");
  if (cookie.max_age && cookie.max_age->count() <= 0) bad("cookie.max_age must be positive");
  if (max_cookie_header_bytes < 64) bad("max_cookie_header_bytes must be at least 64");
  if (load != LoadMode::lazy && load != LoadMode::eager) bad("load must be lazy or eager");
}

}  // namespace redis_session
