#pragma once
// Percent-decoding, shared by the Redis URL parser and the HTTP examples.
// Internal.

#include <optional>
#include <string>
#include <string_view>

namespace redis_session::detail {

// The value of a hex digit, or -1.
constexpr int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Why decoding stopped; the URL parser's messages tell the two failures apart.
enum class PercentError { none, truncated, bad_digit };

// Appends `in` to `out` with each %XX replaced by its byte (and, in a query
// string, '+' by a space), up to the first escape that is cut short or not
// hex.
inline PercentError percent_decode_to(std::string& out, std::string_view in, bool plus_is_space = false) {
  out.reserve(out.size() + in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return PercentError::truncated;
      const int hi = hex_digit(in[i + 1]);
      const int lo = hex_digit(in[i + 2]);
      if (hi < 0 || lo < 0) return PercentError::bad_digit;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c == '+' && plus_is_space ? ' ' : c);
    }
  }
  return PercentError::none;
}

// `in` decoded as by percent_decode_to(); nullopt for a truncated or non-hex
// escape.
inline std::optional<std::string> percent_decode(std::string_view in, bool plus_is_space = false) {
  std::string out;
  if (percent_decode_to(out, in, plus_is_space) != PercentError::none) return std::nullopt;
  return out;
}

}  // namespace redis_session::detail
