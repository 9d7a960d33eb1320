#pragma once
// Session ids: 128 bits from the operating system's CSPRNG (getrandom), as
// 22 characters of unpadded base64url. Never derived from time or a counter.
//
// Thread safety: both functions may be called concurrently.

#include <string>
#include <string_view>

namespace redis_session {

// A fresh id. Throws std::system_error if the OS cannot supply randomness.
std::string generate_session_id();

// True when `id` has exactly the shape generate_session_id() produces. The
// manager checks every incoming id with this before it can reach a store.
bool is_valid_session_id(std::string_view id) noexcept;

inline constexpr std::size_t session_id_length = 22;

}  // namespace redis_session
