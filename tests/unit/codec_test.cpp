// The shipped codecs, without a server: round trips, and the JSON codec's
// fast path agreeing byte for byte with nlohmann's serializer and parser.
#include "redis_session/codec.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace redis_session {
namespace {

using nlohmann::json;

std::vector<json> samples() {
  return {nullptr,
          true,
          false,
          0,
          -1,
          42,
          3.5,
          -0.0,
          1e300,
          "",
          "plain ascii",
          "with \"quotes\"",
          "back\\slash",
          "tab\there",
          std::string("nul\0byte", 8),
          "\x7f",
          "grüße ✓",
          "~!@#$%^&*()_+{}|:<>?",
          "\"",
          "\"\"",
          json::array({1, "two"}),
          json::object({{"k", "v"}}),
          json::array(),
          json::object()};
}

TEST(JsonCodec, OutputIsByteIdenticalToDump) {
  Codec codec = json_codec();
  for (const json& v : samples()) EXPECT_EQ(codec.serialize(v), v.dump()) << v.dump();
  std::string all_printable;
  for (char c = 0x20; c < 0x7f; ++c) all_printable.push_back(c);
  EXPECT_EQ(codec.serialize(all_printable), json(all_printable).dump());
}

TEST(JsonCodec, DecodeAgreesWithTheFullParser) {
  Codec codec = json_codec();
  for (const json& v : samples()) {
    std::string bytes = v.dump();
    EXPECT_EQ(codec.deserialize(bytes), json::parse(bytes)) << bytes;
  }
  // Quoted text that is not a plain string takes the full parser.
  EXPECT_EQ(codec.deserialize("\"a\\u0041\""), "aA");
  EXPECT_EQ(codec.deserialize("\"\""), "");
}

TEST(JsonCodec, InvalidTextThrows) {
  Codec codec = json_codec();
  for (std::string bad : {"", "\"", "\"unterminated", "{", "nul", "\"a\"b\"", "\"\xff\xfe\"", "12abc"}) {
    EXPECT_ANY_THROW(codec.deserialize(bad)) << bad;
  }
}

TEST(BinaryCodecs, RoundTripEverySample) {
  for (const Codec& codec : {cbor_codec(), msgpack_codec(), json_codec()}) {
    for (const json& v : samples()) {
      EXPECT_EQ(codec.deserialize(codec.serialize(v)), v) << codec.name << " " << v.dump();
    }
  }
}

TEST(BinaryCodecs, GarbageThrows) {
  for (const Codec& codec : {cbor_codec(), msgpack_codec()}) {
    EXPECT_ANY_THROW(codec.deserialize(std::string("\xff\xff\xff", 3))) << codec.name;
    EXPECT_ANY_THROW(codec.deserialize("")) << codec.name;
  }
}

std::string nested_arrays(std::size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

TEST(BoundedDecode, DepthLimitInEveryFormat) {
  const json at_limit = json::parse(nested_arrays(max_nesting_depth));
  for (const Codec& codec : {json_codec(), cbor_codec(), msgpack_codec()}) {
    EXPECT_EQ(codec.deserialize(codec.serialize(at_limit)), at_limit) << codec.name;
  }
  EXPECT_ANY_THROW(json_codec().deserialize(nested_arrays(max_nesting_depth + 1)));
  // CBOR and MessagePack: an array of one element (0x81, 0x91) per level.
  EXPECT_ANY_THROW(cbor_codec().deserialize(std::string(max_nesting_depth + 1, '\x81') + '\x01'));
  EXPECT_ANY_THROW(msgpack_codec().deserialize(std::string(max_nesting_depth + 1, '\x91') + '\x01'));
  EXPECT_ANY_THROW(cbor_codec().deserialize(std::string(100000, '\x81') + '\x01')) << "deep enough to overflow a stack";
}

TEST(BoundedDecode, BuildsWhatNlohmannsParserBuilds) {
  for (std::string text : {R"({"a":1,"a":2})", R"({"k":[1,{"x":[true,null,"s"]},2.5],"e":{}})", R"([[],[[]],{}])",
                           R"("\u00e9")", "-0", "18446744073709551615", "1.5e300"}) {
    EXPECT_EQ(json_codec().deserialize(text), json::parse(text)) << text;
  }
  const json with_binary = {{"b", json::binary({1, 2, 3})}, {"n", 1}};
  EXPECT_EQ(cbor_codec().deserialize(cbor_codec().serialize(with_binary)), with_binary);
  EXPECT_EQ(msgpack_codec().deserialize(msgpack_codec().serialize(with_binary)), with_binary);
}

TEST(BoundedDecode, ParseErrorsKeepNlohmannsType) {
  EXPECT_THROW(json_codec().deserialize("{\"a\":"), json::parse_error);
  EXPECT_THROW(cbor_codec().deserialize(std::string("\x82\x01", 2)), json::parse_error);
}

}  // namespace
}  // namespace redis_session
