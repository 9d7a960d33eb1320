#include "redis_session/detail/field_codec.hpp"

#include <charconv>
#include <cstdint>
#include <exception>

#include "redis_session/detail/key_policy.hpp"
#include "redis_session/error.hpp"

namespace redis_session::detail {

bool parse_integer(std::string_view s, long long& out) noexcept {
  if (s.empty() || s.size() > 20) return false;
  std::size_t digits = s[0] == '-' ? 1 : 0;
  if (digits == s.size()) return false;
  if (s[digits] == '0' && s.size() > digits + 1) return false;  // no leading zeros
  if (s == "-0") return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

std::string encode_field(const Codec& codec, std::size_t max_value_bytes, std::string_view field,
                         const nlohmann::json& value) {
  std::string bytes;
  if (value.is_number_integer() && !(value.is_number_unsigned() && value.get<std::uint64_t>() > INT64_MAX)) {
    bytes = std::to_string(value.get<long long>());
  } else {
    // A codec may throw anything (nlohmann refuses invalid UTF-8, a user
    // codec its own errors): the caller gets a typed error naming the field,
    // and nothing is written. Its message is not passed on: it may quote data.
    try {
      bytes = codec.serialize(value);
    } catch (const std::exception&) {
      throw InvalidArgumentError("cannot encode session field '" + std::string(field) + "' with codec " + codec.name);
    }
  }
  if (bytes.size() > max_value_bytes) {
    throw ValueTooLargeError("value of session field '" + std::string(field) + "' is " + std::to_string(bytes.size()) +
                             " bytes, over max_value_bytes (" + std::to_string(max_value_bytes) + ")");
  }
  return bytes;
}

nlohmann::json decode_field(const Codec& codec, const std::vector<Codec>& fallbacks, std::string_view field,
                            std::string_view bytes, std::string_view key) {
  long long integer = 0;
  if (parse_integer(bytes, integer)) return integer;
  try {
    return codec.deserialize(bytes);
  } catch (const std::exception&) {
    for (const Codec& fallback : fallbacks) {
      try {
        return fallback.deserialize(bytes);
      } catch (const std::exception&) {
        // Try the next one; all failing is reported below.
      }
    }
  }
  std::string tried = codec.name;
  for (const Codec& fallback : fallbacks) tried += ", " + fallback.name;
  throw DecodeError("cannot decode field '" + std::string(field) + "' of session " + redacted_key(key) +
                    " (tried: " + tried + ")");
}

}  // namespace redis_session::detail
