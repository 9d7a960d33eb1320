#pragma once
// Where a session lives in Redis and how it is named in messages. Internal.
//
// A session's key is "<namespace>:<id>", the id checked first (session_store.hpp);
// messages show only the namespace and the start of the id, which is a
// bearer secret for as long as the session lives; SCAN finds a namespace's
// keys with its glob characters escaped.

#include <string>
#include <string_view>

namespace redis_session::detail {

// "<key_namespace>:<id>"; throws InvalidArgumentError for an invalid id.
std::string session_key(std::string_view key_namespace, std::string_view id);

// The key for messages: "ns:abcd..." (at most four characters of the id).
std::string redacted_key(std::string_view key);

// `text` with the characters SCAN's MATCH treats specially escaped.
std::string glob_escape(std::string_view text);

// The id part of `key` if it is a key of `key_namespace` with a valid store id
// (SCAN's "<ns>:*" also matches nested namespaces and strays); empty if not.
std::string_view id_in_namespace(std::string_view key_namespace, std::string_view key) noexcept;

}  // namespace redis_session::detail
