#pragma once
// One session field's value as the stores keep it: integers as decimal text
// (so Redis's HINCRBY can add to them), everything else through the codec.
// Both stores measure max_value_bytes here, on the encoded bytes, so a value
// that fits one store fits the other. Internal.

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "redis_session/codec.hpp"

namespace redis_session::detail {

// "-12" or "7": exactly the text HINCRBY reads and writes (no leading zeros,
// no "-0", within 64-bit signed range).
bool parse_integer(std::string_view text, long long& out) noexcept;

// The bytes stored for `value`. Throws InvalidArgumentError when the codec
// cannot encode it, ValueTooLargeError when the bytes are over
// max_value_bytes; both name `field`, never the value.
std::string encode_field(const Codec& codec, std::size_t max_value_bytes, std::string_view field,
                         const nlohmann::json& value);

// The value stored as `bytes`: an integer, else what `codec` or the first
// fallback that can decodes. Throws DecodeError naming `field`, the session
// (its `key` redacted) and the codecs tried.
nlohmann::json decode_field(const Codec& codec, const std::vector<Codec>& fallbacks, std::string_view field,
                            std::string_view bytes, std::string_view key);

}  // namespace redis_session::detail
