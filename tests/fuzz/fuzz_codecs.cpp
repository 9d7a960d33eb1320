// Each shipped codec's deserializer on arbitrary bytes: a value or an
// exception (the store turns it into DecodeError), never a crash. A value the
// JSON codec accepts must survive its own round trip.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string_view>

#include "redis_session/codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const redis_session::Codec codecs[] = {redis_session::json_codec(), redis_session::cbor_codec(),
                                                redis_session::msgpack_codec()};
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  for (const auto& codec : codecs) {
    try {
      nlohmann::json value = codec.deserialize(bytes);
      if (codec.name == "json" && codec.deserialize(codec.serialize(value)) != value && value == value) {
        __builtin_trap();  // (value == value excludes NaN, which never equals itself)
      }
    } catch (const std::exception&) {
      // Bad bytes: reported, not crashed on.
    }
  }
  return 0;
}
