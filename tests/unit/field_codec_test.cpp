// One field's value as both stores keep it, without a server: integers as
// decimal text, the codec for the rest, max_value_bytes on the encoded
// bytes, and decoding through the fallback codecs.
#include "redis_session/detail/field_codec.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <typeinfo>

#include "redis_session/error.hpp"
#include "redis_session/memory_store.hpp"

namespace redis_session::detail {
namespace {

using nlohmann::json;

// The message of the E that f() throws ("" and a failure if it throws none).
template <class E, class F>
std::string message_of(F f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "no " << typeid(E).name() << " thrown";
  return {};
}

TEST(FieldCodec, ParseIntegerTakesExactlyHincrbysText) {
  long long v = 0;
  EXPECT_TRUE(parse_integer("0", v));
  EXPECT_EQ(v, 0);
  EXPECT_TRUE(parse_integer("-12", v));
  EXPECT_EQ(v, -12);
  EXPECT_TRUE(parse_integer("9223372036854775807", v));
  EXPECT_EQ(v, std::numeric_limits<long long>::max());
  EXPECT_TRUE(parse_integer("-9223372036854775808", v));
  EXPECT_EQ(v, std::numeric_limits<long long>::min());
  for (const char* bad : {"", "-", "-0", "007", "1.5", "1e3", " 1", "1 ", "+1", "9223372036854775808", "\"1\""}) {
    EXPECT_FALSE(parse_integer(bad, v)) << bad;
  }
}

TEST(FieldCodec, IntegersAreDecimalTextWhateverTheCodec) {
  for (const Codec& codec : {json_codec(), cbor_codec(), msgpack_codec()}) {
    EXPECT_EQ(encode_field(codec, 100, "n", json(42)), "42") << codec.name;
    EXPECT_EQ(encode_field(codec, 100, "n", json(-7)), "-7") << codec.name;
    EXPECT_EQ(decode_field(codec, {}, "n", "-7", "app:id"), json(-7)) << codec.name;
  }
  // Past 64-bit signed range an integer is the codec's, as HINCRBY could not add to it anyway.
  const json big = std::numeric_limits<std::uint64_t>::max();
  EXPECT_EQ(encode_field(json_codec(), 100, "n", big), big.dump());
}

TEST(FieldCodec, TheLimitIsOnTheEncodedBytes) {
  const json text = std::string(8, 'x');  // "\"xxxxxxxx\"": 10 bytes of JSON
  EXPECT_EQ(encode_field(json_codec(), 10, "f", text), "\"xxxxxxxx\"");
  EXPECT_THROW(encode_field(json_codec(), 9, "f", text), ValueTooLargeError);
  EXPECT_EQ(encode_field(cbor_codec(), 9, "f", text).size(), 9u);  // CBOR: one header byte
  EXPECT_THROW(encode_field(json_codec(), 1, "f", json(12)), ValueTooLargeError);
  const std::string what =
      message_of<ValueTooLargeError>([] { encode_field(json_codec(), 5, "essay", "SECRET-value"); });
  EXPECT_NE(what.find("'essay'"), std::string::npos) << what;
  EXPECT_EQ(what.find("SECRET"), std::string::npos) << what;
}

TEST(FieldCodec, ACodecFailureIsInvalidOptionsNamingTheFieldNotTheValue) {
  Codec refusing{"picky", [](const json&) -> std::string { throw std::runtime_error("SECRET inside"); }, nullptr};
  const std::string what = message_of<InvalidArgumentError>([&] { encode_field(refusing, 100, "f", "x"); });
  EXPECT_NE(what.find("'f'"), std::string::npos) << what;
  EXPECT_NE(what.find("picky"), std::string::npos) << what;
  EXPECT_EQ(what.find("SECRET"), std::string::npos) << what;
  EXPECT_THROW(encode_field(json_codec(), 100, "utf8", "bad \xff"), InvalidArgumentError);
}

TEST(FieldCodec, DecodeTriesTheFallbacksInOrder) {
  const std::string cbor = encode_field(cbor_codec(), 100, "f", json::array({1, "two"}));
  EXPECT_EQ(decode_field(json_codec(), {msgpack_codec(), cbor_codec()}, "f", cbor, "app:id"), json::array({1, "two"}));
  const std::string what =
      message_of<DecodeError>([] { decode_field(json_codec(), {msgpack_codec()}, "f", "{not json", "app:abcdefgh"); });
  EXPECT_NE(what.find("'f'"), std::string::npos) << what;
  EXPECT_NE(what.find("app:abcd..."), std::string::npos) << what;
  EXPECT_EQ(what.find("efgh"), std::string::npos) << what;
  EXPECT_NE(what.find("(tried: json, msgpack)"), std::string::npos) << what;
}

// MemoryStore measured the JSON text (and, unlike RedisPoolStore, took
// values its codec could not encode); now both measure the codec's bytes.
TEST(FieldCodec, MemoryStoreMeasuresAsRedisPoolStoreDoes) {
  json zeros = json::array();
  for (int i = 0; i < 100; ++i) zeros.push_back(0);  // 201 bytes of JSON, 102 of CBOR
  const SessionChanges save{SessionChanges::Mode::create, {{"z", zeros}}, {}};

  MemoryStoreOptions as_json;
  as_json.max_value_bytes = 150;
  MemoryStore json_store(as_json);
  EXPECT_THROW(json_store.save("a", save), ValueTooLargeError);

  MemoryStoreOptions as_cbor = as_json;
  as_cbor.codec = cbor_codec();
  MemoryStore cbor_store(as_cbor);
  EXPECT_EQ(cbor_store.save("a", save), SaveResult::saved);
  EXPECT_EQ((*cbor_store.load("a"))["z"], zeros);

  EXPECT_THROW(json_store.save("b", {SessionChanges::Mode::create, {{"s", "bad \xff"}}, {}}), InvalidArgumentError);
  EXPECT_FALSE(json_store.exists("b"));
}

}  // namespace
}  // namespace redis_session::detail
