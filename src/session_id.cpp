#include "redis_session/session_id.hpp"

#include <sys/random.h>

#include <cerrno>
#include <system_error>

namespace redis_session {
namespace {

// The 6-bit value of each byte as an id character, or -1: one table lookup
// per character on the request path, derived from the alphabet itself.
struct SextetTable {
  std::array<std::int8_t, 256> value{};
  constexpr SextetTable() {
    for (auto& v : value) v = -1;
    for (std::size_t i = 0; i < session_id_alphabet.size(); ++i) {
      value[static_cast<unsigned char>(session_id_alphabet[i])] = static_cast<std::int8_t>(i);
    }
  }
};

constexpr SextetTable sextets;

}  // namespace

namespace detail {

std::string encode_session_id(const SessionIdBits& bits) {
  std::string id;
  id.reserve(session_id_length);
  std::uint32_t acc = 0;
  int pending = 0;
  for (std::uint8_t b : bits) {
    acc = (acc << 8) | b;
    pending += 8;
    while (pending >= 6) {
      pending -= 6;
      id.push_back(session_id_alphabet[(acc >> pending) & 0x3f]);
    }
  }
  id.push_back(session_id_alphabet[(acc << (6 - pending)) & 0x3f]);
  return id;
}

}  // namespace detail

std::string generate_session_id() {
  detail::SessionIdBits bits;
  std::size_t got = 0;
  while (got < bits.size()) {
    ssize_t n = ::getrandom(bits.data() + got, bits.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "getrandom");
    }
    got += static_cast<std::size_t>(n);
  }
  return detail::encode_session_id(bits);
}

bool is_valid_session_id(std::string_view id) noexcept {
  if (id.size() != session_id_length) return false;
  for (char c : id) {
    if (sextets.value[static_cast<unsigned char>(c)] < 0) return false;
  }
  // The last character carries 2 bits and 4 zero bits: only 4 values occur.
  return (sextets.value[static_cast<unsigned char>(id.back())] & 0xf) == 0;
}

}  // namespace redis_session
