#include "redis_session/detail/script_error.hpp"

#include <string>

#include "redis_session/detail/key_policy.hpp"
#include "redis_session/error.hpp"

namespace redis_session::detail {

namespace {

bool starts_with(std::string_view text, std::string_view prefix) noexcept {
  return text.substr(0, prefix.size()) == prefix;
}

}  // namespace

ScriptErrorKind classify_script_error(std::string_view text) noexcept {
  if (starts_with(text, "RSMETA")) return ScriptErrorKind::no_metadata;
  if (starts_with(text, "NOSCRIPT")) return ScriptErrorKind::no_script;
  if (text.find("not an integer") != std::string_view::npos) return ScriptErrorKind::not_an_integer;
  if (text.find("overflow") != std::string_view::npos) return ScriptErrorKind::overflow;
  return ScriptErrorKind::other;
}

void throw_script_error(std::string_view text, std::string_view key, std::string_view field) {
  const std::string session = redacted_key(key);
  switch (classify_script_error(text)) {
    case ScriptErrorKind::no_metadata:
      throw DecodeError("session " + session + " has no creation time (not written by redis_session?)");
    case ScriptErrorKind::not_an_integer:
      throw SessionStateError("cannot increment field '" + std::string(field) + "' of session " + session +
                                ": it does not hold an integer");
    case ScriptErrorKind::overflow:
      throw SessionStateError("cannot increment field '" + std::string(field) + "' of session " + session +
                                ": the result would overflow");
    case ScriptErrorKind::no_script:
    case ScriptErrorKind::other:
      break;
  }
  throw ServerError(std::string(text), "session " + session);
}

}  // namespace redis_session::detail
