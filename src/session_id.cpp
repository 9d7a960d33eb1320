#include "redis_session/session_id.hpp"

#include <sys/random.h>

#include <cerrno>
#include <cstdint>
#include <system_error>

namespace redis_session {
namespace {

constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

}  // namespace

std::string generate_session_id() {
  std::uint8_t bytes[16];
  std::size_t got = 0;
  while (got < sizeof bytes) {
    ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "getrandom");
    }
    got += static_cast<std::size_t>(n);
  }
  // 128 bits -> 22 base64url characters (the last one carries 2 bits).
  std::string id;
  id.reserve(session_id_length);
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::uint8_t b : bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      id.push_back(alphabet[(acc >> bits) & 0x3f]);
    }
  }
  id.push_back(alphabet[(acc << (6 - bits)) & 0x3f]);
  return id;
}

bool is_valid_session_id(std::string_view id) noexcept {
  if (id.size() != session_id_length) return false;
  for (char c : id) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
  }
  // The last character carries 2 bits and 4 zero bits: only 4 values occur.
  char last = id.back();
  return last == 'A' || last == 'Q' || last == 'g' || last == 'w';
}

}  // namespace redis_session
