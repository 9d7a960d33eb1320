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
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
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

// A SAX handler that builds the value as nlohmann's own parser does, but
// stops at max_nesting_depth: nlohmann's CBOR and MessagePack readers recurse
// once per level (and dump() does for every format), so a few hundred
// kilobytes of nested arrays in Redis would otherwise overflow the stack of
// whoever loads or prints them. Only nlohmann's public interface (sax_parse
// and basic_json) is used, so it holds across nlohmann releases.
class BoundedSax {
 public:
  using Json = nlohmann::json;
  explicit BoundedSax(Json& result) : root_(result) {}

  bool null() { return add(nullptr); }
  bool boolean(bool v) { return add(v); }
  bool number_integer(Json::number_integer_t v) { return add(v); }
  bool number_unsigned(Json::number_unsigned_t v) { return add(v); }
  bool number_float(Json::number_float_t v, const Json::string_t&) { return add(v); }
  bool string(Json::string_t& v) { return add(std::move(v)); }
  bool binary(Json::binary_t& v) { return add(std::move(v)); }
  bool start_object(std::size_t) { return enter(Json::value_t::object); }
  bool key(Json::string_t& k) {
    // As in nlohmann's parser, a repeated key keeps the last value.
    member_ = &(*open_.back())[std::move(k)];
    return true;
  }
  bool end_object() { return leave(); }
  bool start_array(std::size_t) { return enter(Json::value_t::array); }
  bool end_array() { return leave(); }
  // Thrown as its own type, as nlohmann's parser does (a parse error, or a
  // length out of range in a binary format).
  [[noreturn]] bool parse_error(std::size_t, const std::string&, const Json::exception& e) {
    if (const auto* p = dynamic_cast<const Json::parse_error*>(&e)) throw *p;
    if (const auto* o = dynamic_cast<const Json::out_of_range*>(&e)) throw *o;
    throw std::runtime_error(e.what());
  }

  // Parses `bytes` in `format`; throws on bad bytes or too deep a value.
  static Json parse(std::string_view bytes, nlohmann::json::input_format_t format);

 private:
  // Places a value where the parse stands: the root, the next element of the
  // innermost open array, or the member whose key came last.
  template <class V>
  Json* place(V&& v) {
    if (open_.empty()) {
      root_ = Json(std::forward<V>(v));
      return &root_;
    }
    Json& parent = *open_.back();
    if (parent.is_array()) {
      parent.emplace_back(std::forward<V>(v));
      return &parent.back();
    }
    *member_ = Json(std::forward<V>(v));
    return member_;
  }
  template <class V>
  bool add(V&& v) {
    place(std::forward<V>(v));
    return true;
  }
  bool enter(Json::value_t type) {
    if (open_.size() + 1 > max_nesting_depth) {
      too_deep_ = true;
      return false;
    }
    open_.push_back(place(type));
    return true;
  }
  bool leave() {
    open_.pop_back();
    return true;
  }

  Json& root_;
  std::vector<Json*> open_;  // the arrays and objects not yet closed, innermost last
  Json* member_ = nullptr;
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

// A codec for one of nlohmann's binary formats: `write(value, out)` appends
// the encoding of value to out.
template <class Write>
Codec binary_codec(std::string name, nlohmann::json::input_format_t format, Write write) {
  return {std::move(name),
          [write](const nlohmann::json& v) {
            std::string out;
            write(v, out);
            return out;
          },
          [format](std::string_view bytes) { return BoundedSax::parse(bytes, format); }};
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
  return detail::binary_codec("cbor", nlohmann::json::input_format_t::cbor,
                              [](const nlohmann::json& v, std::string& out) { nlohmann::json::to_cbor(v, out); });
}

inline Codec msgpack_codec() {
  return detail::binary_codec("msgpack", nlohmann::json::input_format_t::msgpack,
                              [](const nlohmann::json& v, std::string& out) { nlohmann::json::to_msgpack(v, out); });
}

}  // namespace redis_session
