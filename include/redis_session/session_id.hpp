#pragma once
// Session ids: 128 bits from the operating system's CSPRNG (getrandom), as
// 22 characters of unpadded base64url. Never derived from time or a counter.
//
// src/session_id.cpp needs nothing else of the library, so a program that
// wants the library's ids without linking the library (the benchmarks'
// hand-written reference server) can compile that one file in.
//
// Thread safety: every function may be called concurrently.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace redis_session {

// A fresh id. Throws std::system_error if the OS cannot supply randomness.
std::string generate_session_id();

// True when `id` has exactly the shape generate_session_id() produces. The
// manager checks every incoming id with this before it can reach a store.
bool is_valid_session_id(std::string_view id) noexcept;

inline constexpr std::size_t session_id_length = 22;

// The characters of an id, in the order of the 6-bit values they encode
// (base64url, RFC 4648 section 5).
inline constexpr std::string_view session_id_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

namespace detail {

using SessionIdBits = std::array<std::uint8_t, 16>;

// The id that carries `bits`: what generate_session_id() does with the
// CSPRNG's output (the last character holds 2 bits and 4 zero bits).
std::string encode_session_id(const SessionIdBits& bits);

}  // namespace detail

}  // namespace redis_session
