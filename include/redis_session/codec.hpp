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
#include <stdexcept>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace redis_session {

// The shipped codecs refuse (throw on) values nested deeper than this: no
// session needs more, and deeper ones could overflow a thread's stack.
inline constexpr std::size_t max_nesting_depth = 512;

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

// A SAX handler that builds the value like nlohmann's own parser, but stops
// at max_nesting_depth: nlohmann's CBOR and MessagePack readers recurse once
// per level (and dump() does for every format), so a few hundred kilobytes of
// nested arrays in Redis would otherwise overflow the stack of whoever loads
// or prints them.
class BoundedSax {
 public:
  using Json = nlohmann::json;
  explicit BoundedSax(Json& result) : dom_(result, /*allow_exceptions=*/true) {}

  bool null() { return dom_.null(); }
  bool boolean(bool v) { return dom_.boolean(v); }
  bool number_integer(Json::number_integer_t v) { return dom_.number_integer(v); }
  bool number_unsigned(Json::number_unsigned_t v) { return dom_.number_unsigned(v); }
  bool number_float(Json::number_float_t v, const Json::string_t& s) { return dom_.number_float(v, s); }
  bool string(Json::string_t& v) { return dom_.string(v); }
  bool binary(Json::binary_t& v) { return dom_.binary(v); }
  bool start_object(std::size_t n) { return enter() && dom_.start_object(n); }
  bool key(Json::string_t& v) { return dom_.key(v); }
  bool end_object() {
    --depth_;
    return dom_.end_object();
  }
  bool start_array(std::size_t n) { return enter() && dom_.start_array(n); }
  bool end_array() {
    --depth_;
    return dom_.end_array();
  }
  bool parse_error(std::size_t position, const std::string& token, const nlohmann::detail::exception& e) {
    return dom_.parse_error(position, token, e);  // throws: allow_exceptions
  }

  // Parses `bytes` in `format`; throws on bad bytes or too deep a value.
  static Json parse(std::string_view bytes, nlohmann::json::input_format_t format);

 private:
  bool enter() {
    if (++depth_ > max_nesting_depth) too_deep_ = true;
    return !too_deep_;
  }
  nlohmann::detail::json_sax_dom_parser<Json> dom_;
  std::size_t depth_ = 0;
  bool too_deep_ = false;
};

inline nlohmann::json BoundedSax::parse(std::string_view bytes, nlohmann::json::input_format_t format) {
  Json result;
  BoundedSax sax(result);
  if (!Json::sax_parse(bytes.begin(), bytes.end(), &sax, format) || sax.too_deep_) {
    throw std::runtime_error(sax.too_deep_ ? "value nested too deeply" : "value could not be decoded");
  }
  return result;
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
            return detail::BoundedSax::parse(bytes, nlohmann::json::input_format_t::json);
          }};
}

inline Codec cbor_codec() {
  return {"cbor",
          [](const nlohmann::json& v) {
            std::string out;
            nlohmann::json::to_cbor(v, out);
            return out;
          },
          [](std::string_view bytes) {
            return detail::BoundedSax::parse(bytes, nlohmann::json::input_format_t::cbor);
          }};
}

inline Codec msgpack_codec() {
  return {"msgpack",
          [](const nlohmann::json& v) {
            std::string out;
            nlohmann::json::to_msgpack(v, out);
            return out;
          },
          [](std::string_view bytes) {
            return detail::BoundedSax::parse(bytes, nlohmann::json::input_format_t::msgpack);
          }};
}

}  // namespace redis_session
