#include "redis_session/detail/key_policy.hpp"

#include <algorithm>

#include "redis_session/session_store.hpp"

namespace redis_session::detail {

std::string session_key(std::string_view key_namespace, std::string_view id) {
  check_id(id);
  std::string k;
  k.reserve(key_namespace.size() + 1 + id.size());
  k.append(key_namespace).push_back(':');
  k.append(id);
  return k;
}

std::string redacted_key(std::string_view key) {
  auto colon = key.rfind(':');
  std::size_t keep = colon == std::string_view::npos ? 0 : colon + 1 + std::min<std::size_t>(4, key.size() - colon - 1);
  return std::string(key.substr(0, keep)) + "...";
}

std::string glob_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\' || c == '^' || c == '-') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

std::string_view id_in_namespace(std::string_view key_namespace, std::string_view key) noexcept {
  const std::size_t prefix = key_namespace.size() + 1;
  if (key.size() <= prefix || key.substr(0, key_namespace.size()) != key_namespace || key[prefix - 1] != ':') return {};
  std::string_view id = key.substr(prefix);
  return is_store_id(id) ? id : std::string_view();
}

}  // namespace redis_session::detail
