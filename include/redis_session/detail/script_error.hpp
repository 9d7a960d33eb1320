#pragma once
// What an error reply to one of the store's calls means, decided in one
// place: the scripts' own errors, HINCRBY's refusals (which reach us wrapped
// in the script's error text, worded differently by Redis versions) and an
// empty script cache. Internal.

#include <cstdint>
#include <string_view>

namespace redis_session::detail {

enum class ScriptErrorKind : std::uint8_t {
  no_script,       // NOSCRIPT: the server's script cache lacks it; send EVAL
  no_metadata,     // RSMETA: the hash has no creation time (not ours?)
  not_an_integer,  // HINCRBY on a field that holds no integer
  overflow,        // HINCRBY past 64 bits
  other,           // anything else: a server error as such
};

ScriptErrorKind classify_script_error(std::string_view error_text) noexcept;

// Throws the contract's error for an error reply to a call on `key`:
// DecodeError (no_metadata), SessionStateError naming `field` (not_an_integer,
// overflow) or ServerError. Messages show the key redacted.
[[noreturn]] void throw_script_error(std::string_view error_text, std::string_view key, std::string_view field = {});

}  // namespace redis_session::detail
