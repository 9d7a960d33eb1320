// The RESP decoder on arbitrary bytes, fed in arbitrary chunks: it must
// return replies or throw ProtocolError, never crash, hang or leak, and stay
// failed once it has failed.
#include <cstddef>
#include <cstdint>

#include "redis_session/detail/reply_reader.hpp"
#include "redis_session/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using redis_session::detail::ReplyLimits;
  using redis_session::detail::ReplyReader;
  if (size == 0) return 0;
  // The first byte picks the chunk size, so splits are explored too. Small
  // limits make the limit paths reachable.
  const std::size_t chunk = 1 + data[0] % 64;
  ReplyReader reader(ReplyLimits{4096, 64});
  bool failed = false;
  for (std::size_t at = 1; at < size; at += chunk) {
    const std::size_t n = size - at < chunk ? size - at : chunk;
    try {
      reader.feed(reinterpret_cast<const char*>(data + at), n);
      while (reader.next()) {
      }
      if (failed) __builtin_trap();  // a failed reader must keep failing
    } catch (const redis_session::ProtocolError&) {
      failed = true;
    }
  }
  return 0;
}
