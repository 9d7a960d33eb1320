// Session ids: uniqueness, shape, the validator that guards the store, and
// rough statistical checks that would catch an id derived from a clock, a
// counter or a weak generator. No server needed.

#include "redis_session/session_id.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

namespace redis_session {
namespace {

using Bits = detail::SessionIdBits;

// The test's own copy, so that a changed alphabet in the library fails here.
const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// The 6-bit value of a base64url character, or -1.
int sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

// The 128 bits an id encodes; nullopt unless it is 22 base64url characters
// whose 4 trailing padding bits are zero (the canonical encoding).
std::optional<Bits> decode(std::string_view id) {
  if (id.size() != session_id_length) return std::nullopt;
  Bits out{};
  std::uint32_t acc = 0;
  int bits = 0;
  std::size_t n = 0;
  for (char c : id) {
    int v = sextet(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (n == out.size()) return std::nullopt;
      out[n++] = static_cast<std::uint8_t>((acc >> bits) & 0xff);
    }
  }
  if (n != out.size() || bits != 4 || (acc & 0xf) != 0) return std::nullopt;
  return out;
}

struct BitsHash {
  std::size_t operator()(const Bits& b) const noexcept {
    // The bits are (meant to be) uniformly random: any 8 of them hash well.
    std::uint64_t h = 0;
    for (std::size_t i = 0; i < 8; ++i) h = (h << 8) | b[i];
    return static_cast<std::size_t>(h);
  }
};

bool in_alphabet(char c) {
  return sextet(c) >= 0;
}

int popcount_xor(const Bits& a, const Bits& b) {
  int n = 0;
  for (std::size_t i = 0; i < a.size(); ++i) n += __builtin_popcount(static_cast<unsigned>(a[i] ^ b[i]));
  return n;
}

// ---------------------------------------------------------------- shape and uniqueness

TEST(SessionId, AMillionIdsAreDistinctAndWellFormed) {
  constexpr std::size_t count = 1'000'000;
  // 16 raw bytes per entry rather than the 22-char strings (which would each
  // need a heap block): about 40 MB in all.
  std::unordered_set<Bits, BitsHash> seen;
  seen.reserve(count);
  std::size_t malformed = 0;
  for (std::size_t i = 0; i < count; ++i) {
    std::string id = generate_session_id();
    bool ok = id.size() == 22 && is_valid_session_id(id);
    for (char c : id) ok = ok && in_alphabet(c);
    std::optional<Bits> bits = decode(id);
    if (!ok || !bits) {
      if (++malformed <= 5) ADD_FAILURE() << "malformed id: " << id;
      continue;
    }
    if (!seen.insert(*bits).second) ADD_FAILURE() << "duplicate id after " << i << " ids: " << id;
  }
  EXPECT_EQ(malformed, 0U);
  EXPECT_EQ(seen.size(), count);
}

TEST(SessionId, LengthConstantMatchesOutput) {
  EXPECT_EQ(session_id_length, 22U);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(generate_session_id().size(), session_id_length);
}

TEST(SessionId, EncodingIsCanonicalBase64url) {
  // Re-encoding the decoded bits (decoded by the test's own decoder) yields
  // the same text, and all four possible last characters (2 data bits + 4
  // zero bits) occur.
  std::unordered_set<char> last_chars;
  for (int i = 0; i < 2000; ++i) {
    std::string id = generate_session_id();
    std::optional<Bits> bits = decode(id);
    ASSERT_TRUE(bits) << id;
    ASSERT_EQ(detail::encode_session_id(*bits), id);
    last_chars.insert(id.back());
  }
  EXPECT_EQ(last_chars, (std::unordered_set<char>{'A', 'Q', 'g', 'w'}));
}

TEST(SessionId, EncodingOfKnownBits) {
  // Worked by hand from RFC 4648: each 3 bytes become 4 characters, the
  // 16th byte's last 2 bits lead the 22nd character.
  Bits zeros{};
  EXPECT_EQ(detail::encode_session_id(zeros), std::string(22, 'A'));
  Bits ones;
  ones.fill(0xff);
  EXPECT_EQ(detail::encode_session_id(ones), std::string(21, '_') + "w");
  Bits counting{};
  for (std::size_t i = 0; i < counting.size(); ++i) counting[i] = static_cast<std::uint8_t>(i);
  EXPECT_EQ(detail::encode_session_id(counting), "AAECAwQFBgcICQoLDA0ODw");
  for (const Bits& bits : {zeros, ones, counting}) EXPECT_EQ(decode(detail::encode_session_id(bits)), bits);
}

TEST(SessionId, AlphabetIsBase64url) {
  EXPECT_EQ(session_id_alphabet, alphabet);
  for (char c : session_id_alphabet) EXPECT_TRUE(in_alphabet(c)) << c;
}

TEST(SessionId, ConcurrentGenerationGivesDistinctIds) {
  constexpr int threads = 8;
  constexpr int per_thread = 10'000;
  std::vector<std::vector<std::string>> results(threads);
  std::vector<std::thread> workers;
  workers.reserve(threads);
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&out = results[static_cast<std::size_t>(t)]] {
      out.reserve(per_thread);
      for (int i = 0; i < per_thread; ++i) out.push_back(generate_session_id());
    });
  }
  for (std::thread& w : workers) w.join();
  std::unordered_set<std::string> all;
  all.reserve(threads * per_thread);
  for (const auto& ids : results) {
    ASSERT_EQ(ids.size(), static_cast<std::size_t>(per_thread));
    for (const std::string& id : ids) {
      EXPECT_TRUE(is_valid_session_id(id)) << id;
      all.insert(id);
    }
  }
  EXPECT_EQ(all.size(), static_cast<std::size_t>(threads * per_thread));
}

// ---------------------------------------------------------------- randomness

TEST(SessionId, EveryBitIsSetInAboutHalfOfTheIds) {
  // 10,000 samples: a fair bit is set 50% +- 0.5% (one sigma), so 40-60%
  // only fails for a stuck or heavily biased bit (a clock's high bits, a
  // counter's, a byte that is always zero).
  constexpr int samples = 10'000;
  std::array<int, 128> ones{};
  for (int i = 0; i < samples; ++i) {
    std::optional<Bits> bits = decode(generate_session_id());
    ASSERT_TRUE(bits);
    for (std::size_t bit = 0; bit < 128; ++bit) {
      if (((*bits)[bit / 8] >> (7 - bit % 8)) & 1) ++ones[bit];
    }
  }
  for (std::size_t bit = 0; bit < 128; ++bit) {
    EXPECT_GE(ones[bit], samples * 40 / 100) << "bit " << bit;
    EXPECT_LE(ones[bit], samples * 60 / 100) << "bit " << bit;
  }
}

TEST(SessionId, ConsecutiveIdsDifferInAboutHalfTheirBits) {
  // A counter or a time stamp changes a few low bits from one id to the
  // next; independent random ids differ in 64 of 128 bits on average.
  constexpr int pairs = 2000;
  std::optional<Bits> previous = decode(generate_session_id());
  ASSERT_TRUE(previous);
  long total = 0;
  int min_distance = 128;
  for (int i = 0; i < pairs; ++i) {
    std::optional<Bits> next = decode(generate_session_id());
    ASSERT_TRUE(next);
    int d = popcount_xor(*previous, *next);
    total += d;
    if (d < min_distance) min_distance = d;
    previous = next;
  }
  double mean = static_cast<double>(total) / pairs;
  EXPECT_GT(mean, 60.0);
  EXPECT_LT(mean, 68.0);
  // P(distance < 24) for a fair pair is about 1e-13.
  EXPECT_GE(min_distance, 24);
}

// ---------------------------------------------------------------- validation

TEST(IsValidSessionId, AcceptsGeneratedIds) {
  for (int i = 0; i < 1000; ++i) {
    std::string id = generate_session_id();
    EXPECT_TRUE(is_valid_session_id(id)) << id;
  }
  EXPECT_TRUE(is_valid_session_id("AAAAAAAAAAAAAAAAAAAAAA"));
  EXPECT_TRUE(is_valid_session_id(std::string(21, '_') + "w"));
}

TEST(IsValidSessionId, AcceptsEveryAlphabetCharacterInside) {
  for (char c : alphabet) {
    std::string id(21, c);
    id.push_back('Q');
    EXPECT_TRUE(is_valid_session_id(id)) << id;
  }
}

TEST(IsValidSessionId, RejectsWrongLength) {
  std::string good = generate_session_id();
  EXPECT_FALSE(is_valid_session_id(""));
  EXPECT_FALSE(is_valid_session_id("A"));
  EXPECT_FALSE(is_valid_session_id(good.substr(0, 21)));
  EXPECT_FALSE(is_valid_session_id(good.substr(1)));
  EXPECT_FALSE(is_valid_session_id(good + "A"));
  EXPECT_FALSE(is_valid_session_id("A" + good));
  EXPECT_FALSE(is_valid_session_id(std::string(21, 'A')));
  EXPECT_FALSE(is_valid_session_id(std::string(23, 'A')));
  EXPECT_FALSE(is_valid_session_id(std::string(10'000, 'A')));
}

TEST(IsValidSessionId, RejectsCharactersOutsideTheAlphabet) {
  const std::string bad = std::string("*?[]:./+= \t\r\n\"';,\\{}%$#@!~`^&|<>()") + '\0' + "\x7f\x80\xff";
  for (char c : bad) {
    for (std::size_t pos : {std::size_t{0}, std::size_t{10}, std::size_t{20}}) {
      std::string id(22, 'A');
      id[pos] = c;
      EXPECT_FALSE(is_valid_session_id(id))
          << "char " << static_cast<int>(static_cast<unsigned char>(c)) << " at " << pos;
    }
  }
}

TEST(IsValidSessionId, AcceptsExactlyTheAlphabetAmongAllBytes) {
  for (int byte = 0; byte < 256; ++byte) {
    const char c = static_cast<char>(byte);
    std::string id(22, 'A');
    id[10] = c;
    EXPECT_EQ(is_valid_session_id(id), alphabet.find(c) != std::string::npos) << "byte " << byte;
  }
}

TEST(IsValidSessionId, RejectsGlobAndSeparatorCharactersInAGeneratedId) {
  // What an attacker would try to smuggle into a key pattern or another
  // namespace: always in an id of the right length.
  const std::vector<std::string> injections = {"*", "?", "[", "]", ":", "\r", "\n", "\r\n", std::string(1, '\0')};
  for (const std::string& inject : injections) {
    std::string id = generate_session_id();
    id.replace(5, inject.size(), inject);
    ASSERT_EQ(id.size(), 22U);
    EXPECT_FALSE(is_valid_session_id(id));
  }
  EXPECT_FALSE(is_valid_session_id("session:AAAAAAAAAAAAAA"));
  EXPECT_FALSE(is_valid_session_id("*AAAAAAAAAAAAAAAAAAAAA"));
  EXPECT_FALSE(is_valid_session_id("AAAAAAAAAAAAAAAAAAAAA*"));
}

TEST(IsValidSessionId, NulInsideTheViewIsRejectedNotTruncated) {
  std::string id = generate_session_id();
  std::string with_nul = id.substr(0, 11) + std::string(1, '\0') + id.substr(12);
  ASSERT_EQ(with_nul.size(), 22U);
  EXPECT_FALSE(is_valid_session_id(with_nul));
}

TEST(IsValidSessionId, LastCharacterMustCarryZeroPaddingBits) {
  int accepted = 0;
  for (char last : alphabet) {
    std::string id(21, 'a');
    id.push_back(last);
    bool expected = last == 'A' || last == 'Q' || last == 'g' || last == 'w';
    EXPECT_EQ(is_valid_session_id(id), expected) << id;
    accepted += is_valid_session_id(id) ? 1 : 0;
  }
  EXPECT_EQ(accepted, 4);
  EXPECT_FALSE(is_valid_session_id(std::string(22, 'a')));
}

}  // namespace
}  // namespace redis_session
