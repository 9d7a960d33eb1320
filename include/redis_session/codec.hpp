#pragma once
// Codecs turn one session field's value (a nlohmann::json) into bytes for the
// store and back. JSON text is the default; CBOR and MessagePack are smaller
// and faster to parse; any pair of functors plugs in (e.g. one that encrypts).
//
// Integers are special: the store keeps integer values as plain decimal text
// whatever the codec, so Redis's HINCRBY can add to them atomically. A codec
// therefore only ever sees non-integer values, and its output for those must
// not itself be a plain decimal integer (none of the shipped codecs' is).
//
// Thread safety: the shipped codecs are stateless; a user codec used by a
// store must be safe to call from many threads at once.

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace redis_session {

struct Codec {
  std::string name;  // for error messages: "json", "cbor", ...
  std::function<std::string(const nlohmann::json&)> serialize;
  // Throws anything on bad bytes; the store reports it as DecodeError.
  std::function<nlohmann::json(std::string_view)> deserialize;
};

namespace detail {

// Printable ASCII without '"' or '\\': the characters that JSON text and
// nlohmann's dump() both carry verbatim inside a string. Table-driven: this
// runs over every byte of every string value a store loads.
inline bool plain_json_chars(std::string_view s) noexcept {
  static constexpr auto table = [] {
    std::array<bool, 256> t{};
    for (int c = 0x20; c <= 0x7e; ++c) t[static_cast<std::size_t>(c)] = c != '"' && c != '\\';
    return t;
  }();
  for (char ch : s) {
    if (!table[static_cast<unsigned char>(ch)]) return false;
  }
  return true;
}

}  // namespace detail

// Most session values are short ASCII strings; for those, JSON text is the
// string in quotes, and building it directly skips the general serializer and
// parser (the costliest part of a load). Output is byte-identical to dump().
inline Codec json_codec() {
  return {"json",
          [](const nlohmann::json& v) {
            if (v.is_string()) {
              const auto& s = v.get_ref<const std::string&>();
              if (detail::plain_json_chars(s)) {
                std::string out;
                out.reserve(s.size() + 2);
                out.push_back('"');
                out.append(s);
                out.push_back('"');
                return out;
              }
            }
            return v.dump();
          },
          [](std::string_view bytes) {
            if (bytes.size() >= 2 && bytes.front() == '"' && bytes.back() == '"' &&
                detail::plain_json_chars(bytes.substr(1, bytes.size() - 2))) {
              return nlohmann::json(std::string(bytes.substr(1, bytes.size() - 2)));
            }
            return nlohmann::json::parse(bytes.begin(), bytes.end());
          }};
}

inline Codec cbor_codec() {
  return {"cbor",
          [](const nlohmann::json& v) {
            std::string out;
            nlohmann::json::to_cbor(v, out);
            return out;
          },
          [](std::string_view bytes) { return nlohmann::json::from_cbor(bytes.begin(), bytes.end()); }};
}

inline Codec msgpack_codec() {
  return {"msgpack",
          [](const nlohmann::json& v) {
            std::string out;
            nlohmann::json::to_msgpack(v, out);
            return out;
          },
          [](std::string_view bytes) { return nlohmann::json::from_msgpack(bytes.begin(), bytes.end()); }};
}

}  // namespace redis_session
