// Unit tests for detail::ReplyReader (RESP decoding, limits, malformed input)
// and for the error types and error category in error.hpp. No server needed.

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <climits>
#include <cstddef>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "redis_session/detail/reply_reader.hpp"
#include "redis_session/error.hpp"

namespace redis_session {
namespace {

using detail::ReplyLimits;
using detail::ReplyReader;
using redis::Reply;

// hiredis 0.14 refuses an array at "depth > 7", counting the root as depth 0,
// so eight arrays nested inside each other is the deepest reply it decodes.
constexpr int kMaxArrayNesting = 8;

void feed(ReplyReader& reader, std::string_view bytes) { reader.feed(bytes.data(), bytes.size()); }

std::vector<Reply> drain(ReplyReader& reader) {
  std::vector<Reply> replies;
  while (auto reply = reader.next()) replies.push_back(std::move(*reply));
  return replies;
}

// Feeds all of `wire` at once and returns its replies; `wire` must end on a
// reply boundary.
std::vector<Reply> decode(std::string_view wire, ReplyLimits limits = {}) {
  ReplyReader reader(limits);
  feed(reader, wire);
  std::vector<Reply> replies = drain(reader);
  EXPECT_FALSE(reader.has_partial()) << "bytes left after the last complete reply";
  return replies;
}

Reply decode_one(std::string_view wire) {
  std::vector<Reply> replies = decode(wire);
  EXPECT_EQ(replies.size(), 1u) << "for input " << testing::PrintToString(std::string(wire));
  return replies.empty() ? Reply{} : std::move(replies.front());
}

// Feeds `wire` one byte at a time, draining after each byte. has_partial()
// must be false exactly when the byte just fed completed a reply.
std::vector<Reply> decode_bytewise(std::string_view wire) {
  ReplyReader reader;
  std::vector<Reply> replies;
  for (std::size_t i = 0; i < wire.size(); ++i) {
    feed(reader, wire.substr(i, 1));
    std::size_t before = replies.size();
    for (Reply& r : drain(reader)) replies.push_back(std::move(r));
    bool completed = replies.size() > before;
    EXPECT_EQ(reader.has_partial(), !completed) << "after byte " << i;
  }
  return replies;
}

std::string bulk(std::string_view payload) {
  return "$" + std::to_string(payload.size()) + "\r\n" + std::string(payload) + "\r\n";
}

// `depth` arrays of one element each, around `leaf`.
std::string nested(int depth, std::string_view leaf) {
  std::string wire;
  for (int i = 0; i < depth; ++i) wire += "*1\r\n";
  return wire + std::string(leaf);
}

std::string escaped(const std::string& s) {
  static const char hex[] = "0123456789abcdef";
  std::string out = "\"";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u > 0x7e) {
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 0xf];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// A canonical rendering, so replies compare with EXPECT_EQ and a mismatch
// shows where.
std::string dump(const Reply& r) {
  switch (r.type) {
    case Reply::Type::nil: return "nil";
    case Reply::Type::integer: return ":" + std::to_string(r.integer);
    case Reply::Type::status: return "+" + escaped(r.str);
    case Reply::Type::error: return "-" + escaped(r.str);
    case Reply::Type::string: return "$" + escaped(r.str);
    case Reply::Type::array: {
      std::string out = "[";
      for (std::size_t i = 0; i < r.elements.size(); ++i) out += (i == 0 ? "" : ",") + dump(r.elements[i]);
      return out + "]";
    }
  }
  return "?";
}

std::string dump(const std::vector<Reply>& replies) {
  std::string out;
  for (const Reply& r : replies) out += dump(r) + " ";
  return out;
}

// Passes when `action` throws ProtocolError (code protocol_error) whose
// message mentions `cause`.
template <class Action>
testing::AssertionResult throws_protocol_error(Action action, std::string_view cause) {
  try {
    action();
  } catch (const ProtocolError& e) {
    std::string what = e.what();
    if (e.errc() != Errc::protocol_error) return testing::AssertionFailure() << "wrong code for: " << what;
    if (what.find(cause) == std::string::npos) {
      return testing::AssertionFailure() << "message \"" << what << "\" does not mention \"" << cause << "\"";
    }
    return testing::AssertionSuccess();
  }
  return testing::AssertionFailure() << "no ProtocolError thrown";
}

// Every reply type, binary payloads and nesting, pipelined.
const std::string& mixed_corpus() {
  static const std::string corpus = "+OK\r\n"
                                    "-ERR unknown command 'FOO'\r\n"
                                    ":0\r\n"
                                    ":-17\r\n"
                                    ":9223372036854775807\r\n"
                                    ":-9223372036854775808\r\n" +
                                    bulk("hello") + bulk("") + bulk(std::string("a\0b\rc\nd\r\ne", 10)) +
                                    "$-1\r\n"
                                    "*-1\r\n"
                                    "*0\r\n"
                                    "*3\r\n:1\r\n*2\r\n$3\r\nfoo\r\n$-1\r\n*0\r\n" +
                                    nested(kMaxArrayNesting, bulk("deep"));
  return corpus;
}

constexpr std::size_t kMixedCorpusReplies = 14;

// ---------------------------------------------------------------- reply types

TEST(ReplyReader, DecodesStatus) {
  Reply r = decode_one("+OK\r\n");
  EXPECT_EQ(r.type, Reply::Type::status);
  EXPECT_TRUE(r.is_status("OK"));
  EXPECT_EQ(decode_one("+hello world\r\n").str, "hello world");
}

TEST(ReplyReader, DecodesError) {
  Reply r = decode_one("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
  EXPECT_TRUE(r.is_error());
  EXPECT_EQ(r.str, "WRONGTYPE Operation against a key holding the wrong kind of value");
}

TEST(ReplyReader, DecodesIntegers) {
  const std::pair<const char*, long long> cases[] = {
      {":0\r\n", 0},
      {":42\r\n", 42},
      {":-42\r\n", -42},
      {":9223372036854775807\r\n", LLONG_MAX},
      {":-9223372036854775808\r\n", LLONG_MIN},
  };
  for (const auto& [wire, value] : cases) {
    Reply r = decode_one(wire);
    EXPECT_TRUE(r.is_integer()) << wire;
    EXPECT_EQ(r.integer, value) << wire;
  }
}

TEST(ReplyReader, DecodesBulkString) {
  Reply r = decode_one("$5\r\nhello\r\n");
  EXPECT_TRUE(r.is_string());
  EXPECT_EQ(r.str, "hello");
}

TEST(ReplyReader, EmptyBulkStringIsAStringNotNil) {
  Reply r = decode_one("$0\r\n\r\n");
  EXPECT_TRUE(r.is_string());
  EXPECT_FALSE(r.is_nil());
  EXPECT_EQ(r.str, "");
}

TEST(ReplyReader, DecodesNilBulkAndNilArray) {
  EXPECT_TRUE(decode_one("$-1\r\n").is_nil());
  EXPECT_TRUE(decode_one("*-1\r\n").is_nil());
}

TEST(ReplyReader, EmptyArrayIsAnArrayNotNil) {
  Reply r = decode_one("*0\r\n");
  EXPECT_TRUE(r.is_array());
  EXPECT_TRUE(r.elements.empty());
}

TEST(ReplyReader, DecodesArrayOfEveryType) {
  Reply r = decode_one("*7\r\n:1\r\n$3\r\nfoo\r\n$-1\r\n+OK\r\n-ERR x\r\n*-1\r\n*0\r\n");
  ASSERT_TRUE(r.is_array());
  ASSERT_EQ(r.elements.size(), 7u);
  EXPECT_EQ(r.elements[0].integer, 1);
  EXPECT_EQ(r.elements[1].str, "foo");
  EXPECT_TRUE(r.elements[2].is_nil());
  EXPECT_TRUE(r.elements[3].is_status("OK"));
  EXPECT_TRUE(r.elements[4].is_error());
  EXPECT_EQ(r.elements[4].str, "ERR x");
  EXPECT_TRUE(r.elements[5].is_nil());
  EXPECT_TRUE(r.elements[6].is_array());
  EXPECT_TRUE(r.elements[6].elements.empty());
}

TEST(ReplyReader, DecodesNestedArrays) {
  Reply r = decode_one("*3\r\n*2\r\n:1\r\n:2\r\n*1\r\n*0\r\n*2\r\n$1\r\na\r\n*1\r\n$-1\r\n");
  EXPECT_EQ(dump(r), "[[:1,:2],[[]],[$\"a\",[nil]]]");
}

TEST(ReplyReader, DecodesArraysNestedToTheSupportedDepth) {
  Reply r = decode_one(nested(kMaxArrayNesting, bulk("leaf")));
  const Reply* at = &r;
  for (int level = 0; level < kMaxArrayNesting; ++level) {
    ASSERT_TRUE(at->is_array()) << "level " << level;
    ASSERT_EQ(at->elements.size(), 1u) << "level " << level;
    at = &at->elements.front();
  }
  EXPECT_TRUE(at->is_string());
  EXPECT_EQ(at->str, "leaf");

  // Siblings at the deepest level, after a completed deep branch.
  std::string wide = "*2\r\n" + nested(kMaxArrayNesting - 2, "*2\r\n:1\r\n:2\r\n") + ":3\r\n";
  EXPECT_EQ(dump(decode_one(wide)), "[[[[[[[[:1,:2]]]]]]],:3]");
}

TEST(ReplyReader, BulkStringsAreBinarySafe) {
  std::string every_byte;
  for (int b = 0; b < 256; ++b) every_byte += static_cast<char>(b);
  const std::string payloads[] = {
      std::string("\0", 1),
      std::string("a\0b\0\0", 5),
      "\r",
      "\n",
      "\r\n",
      "x\r\ny\r\n",
      "\r\n+OK\r\n$-1\r\n*1\r\n",  // looks like more replies
      every_byte,
  };
  for (const std::string& payload : payloads) {
    SCOPED_TRACE(escaped(payload));
    Reply whole = decode_one(bulk(payload));
    EXPECT_TRUE(whole.is_string());
    EXPECT_EQ(whole.str, payload);
    EXPECT_EQ(whole.str.size(), payload.size());

    std::vector<Reply> bytewise = decode_bytewise(bulk(payload) + bulk(payload));
    ASSERT_EQ(bytewise.size(), 2u);
    EXPECT_EQ(bytewise[0].str, payload);
    EXPECT_EQ(bytewise[1].str, payload);
  }
}

// ---------------------------------------------------------------- incremental feeding

TEST(ReplyReader, ByteByByteFeedingGivesIdenticalReplies) {
  std::vector<Reply> whole = decode(mixed_corpus());
  ASSERT_EQ(whole.size(), kMixedCorpusReplies);
  EXPECT_EQ(dump(decode_bytewise(mixed_corpus())), dump(whole));
}

TEST(ReplyReader, AnySplitIntoTwoFeedsGivesIdenticalReplies) {
  const std::string& wire = mixed_corpus();
  const std::string expected = dump(decode(wire));
  for (std::size_t split = 0; split <= wire.size(); ++split) {
    ReplyReader reader;
    feed(reader, std::string_view(wire).substr(0, split));
    std::vector<Reply> replies = drain(reader);
    feed(reader, std::string_view(wire).substr(split));
    for (Reply& r : drain(reader)) replies.push_back(std::move(r));
    EXPECT_EQ(dump(replies), expected) << "split at " << split;
    EXPECT_FALSE(reader.has_partial()) << "split at " << split;
  }
}

TEST(ReplyReader, PipelinedRepliesInOneFeedComeOutInOrder) {
  std::vector<Reply> replies = decode("+OK\r\n:1\r\n$3\r\nfoo\r\n*1\r\n:2\r\n-ERR no\r\n");
  EXPECT_EQ(dump(replies), "+\"OK\" :1 $\"foo\" [:2] -\"ERR no\" ");
}

TEST(ReplyReader, ThousandRepliesInOneBuffer) {
  std::string wire;
  for (int i = 0; i < 1000; ++i) wire += i % 2 == 0 ? ":" + std::to_string(i) + "\r\n" : bulk("value-" + std::to_string(i));
  std::vector<Reply> replies = decode(wire);
  ASSERT_EQ(replies.size(), 1000u);
  for (int i = 0; i < 1000; ++i) {
    const Reply& r = replies[static_cast<std::size_t>(i)];
    if (i % 2 == 0) {
      EXPECT_TRUE(r.is_integer()) << i;
      EXPECT_EQ(r.integer, i);
    } else {
      EXPECT_TRUE(r.is_string()) << i;
      EXPECT_EQ(r.str, "value-" + std::to_string(i));
    }
  }
}

TEST(ReplyReader, HasPartialIsTrueOnlyMidReply) {
  ReplyReader reader;
  EXPECT_FALSE(reader.has_partial());
  EXPECT_FALSE(reader.next().has_value());
  EXPECT_FALSE(reader.has_partial()) << "asking an empty reader must not invent a partial reply";

  feed(reader, "$5\r\nhel");
  EXPECT_FALSE(reader.next().has_value());
  EXPECT_TRUE(reader.has_partial());
  feed(reader, "lo\r\n");
  std::optional<Reply> reply = reader.next();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->str, "hello");
  EXPECT_FALSE(reader.has_partial());
  EXPECT_FALSE(reader.next().has_value());
  EXPECT_FALSE(reader.has_partial()) << "a drained reader holds no partial reply";

  // Every byte consumed, but the array still waits for its second element.
  feed(reader, "*2\r\n:1\r\n");
  EXPECT_FALSE(reader.next().has_value());
  EXPECT_TRUE(reader.has_partial());
  feed(reader, ":2\r\n");
  ASSERT_TRUE(reader.next().has_value());
  EXPECT_FALSE(reader.has_partial());
}

TEST(ReplyReader, HasPartialIsTrueWhileACompleteReplyIsUnread) {
  ReplyReader reader;
  feed(reader, "+OK\r\n+OK\r\n");
  ASSERT_TRUE(reader.next().has_value());
  EXPECT_TRUE(reader.has_partial());
  ASSERT_TRUE(reader.next().has_value());
  EXPECT_FALSE(reader.has_partial());
}

TEST(ReplyReader, TruncatedInputNeedsMoreBytesAndIsNotAnError) {
  const std::string replies[] = {
      "+OK\r\n",
      "-ERR x\r\n",
      ":-9223372036854775808\r\n",
      bulk(std::string("a\r\nb\0", 5)),
      "$0\r\n\r\n",
      "$-1\r\n",
      "*-1\r\n",
      "*3\r\n$3\r\nfoo\r\n*1\r\n:1\r\n*0\r\n",
      nested(kMaxArrayNesting, ":1\r\n"),
  };
  for (const std::string& wire : replies) {
    const std::string expected = dump(decode_one(wire));
    for (std::size_t cut = 1; cut < wire.size(); ++cut) {
      ReplyReader reader;
      feed(reader, std::string_view(wire).substr(0, cut));
      EXPECT_FALSE(reader.next().has_value()) << escaped(wire) << " cut at " << cut;
      EXPECT_TRUE(reader.has_partial()) << escaped(wire) << " cut at " << cut;
      feed(reader, std::string_view(wire).substr(cut));
      std::optional<Reply> reply = reader.next();
      ASSERT_TRUE(reply.has_value()) << escaped(wire) << " cut at " << cut;
      EXPECT_EQ(dump(*reply), expected);
    }
  }
}

// ---------------------------------------------------------------- limits

TEST(ReplyReader, RepliesUpToTheByteLimitAreAccepted) {
  // "$57\r\n" + 57 bytes + "\r\n" is exactly 64 bytes.
  std::string wire = bulk(std::string(57, 'x'));
  ASSERT_EQ(wire.size(), 64u);
  std::vector<Reply> replies = decode(wire, ReplyLimits{64, 4});
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].str.size(), 57u);
}

TEST(ReplyReader, BulkLongerThanTheByteLimitIsRejected) {
  ReplyReader reader(ReplyLimits{64, 4});
  const std::string wire = bulk(std::string(1000, 'x'));
  std::size_t accepted = 0;
  auto feed_in_chunks = [&] {
    for (std::size_t at = 0; at < wire.size(); at += 16) {
      std::string_view chunk = std::string_view(wire).substr(at, 16);
      feed(reader, chunk);
      accepted += chunk.size();
      reader.next();
    }
  };
  EXPECT_TRUE(throws_protocol_error(feed_in_chunks, "larger than 64 bytes"));
  EXPECT_LE(accepted, 64u) << "buffered more than the limit before refusing";
}

TEST(ReplyReader, BufferedBytesOverTheLimitAreRejected) {
  std::string pipeline;
  for (int i = 0; i < 17; ++i) pipeline += ":1\r\n";  // 68 bytes of complete replies
  ReplyReader reader(ReplyLimits{64, 4});
  EXPECT_TRUE(throws_protocol_error([&] { feed(reader, pipeline); }, "larger than 64 bytes"));

  // Unread replies count: two 40-byte feeds without draining exceed 64.
  ReplyReader undrained(ReplyLimits{64, 4});
  feed(undrained, pipeline.substr(0, 40));
  EXPECT_TRUE(throws_protocol_error([&] { feed(undrained, pipeline.substr(0, 40)); }, "larger than 64 bytes"));
}

TEST(ReplyReader, ByteLimitAppliesToBufferedBytesNotTheWholeStream) {
  ReplyReader reader(ReplyLimits{64, 4});
  const std::string ten_replies = ":1\r\n:2\r\n:3\r\n:4\r\n:5\r\n:6\r\n:7\r\n:8\r\n:9\r\n:0\r\n";
  std::size_t total = 0;
  for (int round = 0; round < 10; ++round) {
    feed(reader, ten_replies);
    total += drain(reader).size();
  }
  EXPECT_EQ(total, 100u);
}

TEST(ReplyReader, ElementLimitCountsNestedElementsOfTheWholeReply) {
  // Each array is within the limit on its own; together they are not.
  std::string wire = "*3\r\n";
  for (int i = 0; i < 3; ++i) wire += "*3\r\n:1\r\n:2\r\n:3\r\n";
  ReplyReader reader(ReplyLimits{1024, 6});
  feed(reader, wire);
  EXPECT_TRUE(throws_protocol_error([&] { reader.next(); }, "element limit"));
  // The budget is per reply: the same reply within a larger limit, twice.
  ReplyReader roomy(ReplyLimits{1024, 12});
  feed(roomy, wire + wire);
  EXPECT_EQ(drain(roomy).size(), 2u);
}

long max_rss_kb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

TEST(ReplyReader, DeclaredArrayLengthsAllocateNothingUntilElementsArrive) {
  // Eight nested headers declaring a million elements each: 88 bytes of input.
  // Allocating what they declare would take hundreds of MB.
  ReplyReader reader;
  std::string wire;
  for (int i = 0; i < 8; ++i) wire += "*1000000\r\n";
  long before = max_rss_kb();
  feed(reader, wire);
  EXPECT_FALSE(reader.next());
  EXPECT_LT(max_rss_kb() - before, 20 * 1024) << "KB of peak RSS growth";
}

TEST(ReplyReader, ArraysUpToTheElementLimitAreAccepted) {
  std::vector<Reply> replies = decode("*4\r\n:1\r\n:2\r\n:3\r\n:4\r\n", ReplyLimits{1024, 4});
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].elements.size(), 4u);
}

TEST(ReplyReader, ArrayLongerThanTheElementLimitIsRejected) {
  ReplyReader top(ReplyLimits{1024, 4});
  feed(top, "*5\r\n");
  EXPECT_TRUE(throws_protocol_error([&] { top.next(); }, "element limit"));

  // Also when nested: the partially built parent must be freed (ASan checks).
  ReplyReader inner(ReplyLimits{1024, 4});
  feed(inner, "*2\r\n$3\r\nabc\r\n*5\r\n");
  EXPECT_TRUE(throws_protocol_error([&] { inner.next(); }, "element limit"));
}

TEST(ReplyReader, NegativeArrayCountOtherThanMinusOneIsRejected) {
  for (const char* wire : {"*-5\r\n", "*-2\r\n", "*-2147483648\r\n", "*1\r\n*-3\r\n"}) {
    ReplyReader reader;
    feed(reader, wire);
    EXPECT_TRUE(throws_protocol_error([&] { reader.next(); }, "length")) << wire;
  }
}

TEST(ReplyReader, HugeDeclaredArrayIsRejectedWithoutAllocatingIt) {
  // With the default limits: were the 2^31 elements allocated, ASan would
  // abort or the process would run out of memory long before the assertion.
  ReplyReader reader;
  feed(reader, "*2147483647\r\n");
  EXPECT_TRUE(throws_protocol_error([&] { reader.next(); }, "element limit"));

  for (const char* wire : {"*2147483648\r\n", "*4294967297\r\n:1\r\n", "*9223372036854775807\r\n"}) {
    ReplyReader wider;
    feed(wider, wire);
    EXPECT_TRUE(throws_protocol_error([&] { wider.next(); }, "length")) << wire;
  }
}

TEST(ReplyReader, NestingDeeperThanSupportedIsRejected) {
  for (int depth : {kMaxArrayNesting + 1, 20, 1000}) {
    SCOPED_TRACE(depth);
    ReplyReader with_leaf;
    feed(with_leaf, nested(depth, ":1\r\n"));
    EXPECT_TRUE(throws_protocol_error([&] { with_leaf.next(); }, "nested"));

    ReplyReader headers_only;
    feed(headers_only, nested(depth, ""));
    EXPECT_TRUE(throws_protocol_error([&] { headers_only.next(); }, "nested"));
  }
}

TEST(ReplyReader, DeepNestingFedByteByByteIsRejected) {
  ReplyReader reader;
  const std::string wire = nested(1000, ":1\r\n");
  auto feed_bytewise = [&] {
    for (char c : wire) {
      feed(reader, std::string_view(&c, 1));
      EXPECT_FALSE(reader.next().has_value());
    }
  };
  EXPECT_TRUE(throws_protocol_error(feed_bytewise, "nested"));
}

TEST(ReplyReader, GarbageTypeByteIsRejected) {
  for (const char* wire : {"?x\r\n", "x", "\r\n", "hello\r\n", "%1\r\n"}) {
    ReplyReader reader;
    feed(reader, wire);
    EXPECT_TRUE(throws_protocol_error([&] { reader.next(); }, "type byte")) << wire;
  }
}

TEST(ReplyReader, GarbageAfterAValidReplyIsRejectedAfterThatReply) {
  ReplyReader reader;
  feed(reader, "+OK\r\n!garbage\r\n");
  std::optional<Reply> first = reader.next();
  ASSERT_TRUE(first.has_value());
  EXPECT_TRUE(first->is_status("OK"));
  EXPECT_TRUE(throws_protocol_error([&] { reader.next(); }, "type byte"));
}

// ---------------------------------------------------------------- after an error

// Once failed, feed() and next() keep throwing and never hand out data: the
// stream is out of step and any later reply would be matched to the wrong
// command.
void expect_stays_failed(ReplyReader& reader, std::string_view cause) {
  EXPECT_TRUE(throws_protocol_error([&] { reader.next(); }, cause));
  EXPECT_TRUE(throws_protocol_error([&] { reader.next(); }, cause));
  EXPECT_TRUE(throws_protocol_error([&] { feed(reader, "+OK\r\n"); }, cause));
  EXPECT_TRUE(throws_protocol_error([&] { reader.next(); }, cause));
}

TEST(ReplyReader, StaysFailedAfterAMalformedReply) {
  ReplyReader reader;
  feed(reader, "?\r\n");
  expect_stays_failed(reader, "type byte");
}

TEST(ReplyReader, StaysFailedAfterTheElementLimit) {
  ReplyReader reader(ReplyLimits{1024, 4});
  feed(reader, "*5\r\n");
  expect_stays_failed(reader, "element limit");
}

TEST(ReplyReader, StaysFailedAfterTooDeepNesting) {
  ReplyReader reader;
  feed(reader, nested(20, ""));
  expect_stays_failed(reader, "nested");
}

TEST(ReplyReader, StaysFailedAfterTheByteLimit) {
  ReplyReader reader(ReplyLimits{16, 4});
  feed(reader, "+OK\r\n");  // complete, unread
  EXPECT_TRUE(throws_protocol_error([&] { feed(reader, "+0123456789abc\r\n"); }, "larger than 16 bytes"));
  expect_stays_failed(reader, "larger than");
}

// ---------------------------------------------------------------- error types

TEST(ErrorCategory, NameAndMessages) {
  std::error_code ec = make_error_code(Errc::pool_timeout);
  EXPECT_STREQ(ec.category().name(), "redis_session");
  EXPECT_EQ(&ec.category(), &error_category());
  EXPECT_EQ(ec.value(), 1);
  EXPECT_FALSE(ec.message().empty());

  const std::string unknown = error_category().message(0);
  std::set<std::string> messages;
  for (int v = static_cast<int>(Errc::pool_timeout); v <= static_cast<int>(Errc::value_too_large); ++v) {
    std::string message = make_error_code(static_cast<Errc>(v)).message();
    EXPECT_FALSE(message.empty()) << v;
    EXPECT_NE(message, unknown) << v;
    messages.insert(message);
  }
  EXPECT_EQ(messages.size(), 11u) << "every code has its own message";
  EXPECT_EQ(error_category().message(999), unknown);
}

TEST(ErrorCategory, ErrcConvertsImplicitlyToErrorCode) {
  std::error_code ec = Errc::timeout;
  EXPECT_EQ(ec, make_error_code(Errc::timeout));
  EXPECT_NE(ec, make_error_code(Errc::io_error));
  EXPECT_NE(ec, std::make_error_code(std::errc::timed_out)) << "a different category";
}

// Throws `e`, catches it as Error, and checks its code and message.
template <class E>
void expect_code(const E& e, Errc code) {
  try {
    throw e;
  } catch (const Error& caught) {
    EXPECT_EQ(caught.errc(), code) << caught.what();
    EXPECT_EQ(caught.code(), make_error_code(code)) << caught.what();
    EXPECT_STREQ(caught.what(), "what happened");
  }
}

TEST(ErrorTypes, EachKindCarriesItsCode) {
  expect_code(InvalidOptionsError("what happened"), Errc::invalid_options);
  expect_code(PoolTimeoutError("what happened"), Errc::pool_timeout);
  expect_code(PoolClosedError("what happened"), Errc::pool_closed);
  expect_code(ConnectError("what happened"), Errc::connect_failed);
  expect_code(AuthError("what happened"), Errc::auth_failed);
  expect_code(TimeoutError("what happened"), Errc::timeout);
  expect_code(IoError("what happened"), Errc::io_error);
  expect_code(ProtocolError("what happened"), Errc::protocol_error);
  expect_code(ServerError("what happened"), Errc::server_error);
  expect_code(DecodeError("what happened"), Errc::decode_error);
  expect_code(ValueTooLargeError("what happened"), Errc::value_too_large);
}

TEST(ErrorTypes, AuthErrorIsCaughtAsEveryBase) {
  auto thrower = [] { throw AuthError("bad password for h:1"); };
  EXPECT_THROW(thrower(), AuthError);
  EXPECT_THROW(thrower(), ConnectError);
  EXPECT_THROW(thrower(), ConnectionError);
  EXPECT_THROW(thrower(), Error);
  EXPECT_THROW(thrower(), std::runtime_error);
}

TEST(ErrorTypes, KindsBelongToTheirFamilies) {
  EXPECT_THROW(throw TimeoutError("t"), ConnectionError);
  EXPECT_THROW(throw IoError("i"), ConnectionError);
  EXPECT_THROW(throw ProtocolError("p"), ConnectionError);
  EXPECT_THROW(throw PoolTimeoutError("t"), PoolError);
  EXPECT_THROW(throw PoolClosedError("c"), PoolError);

  // A server error reply or a pool timeout is not a broken connection.
  EXPECT_FALSE((std::is_base_of_v<ConnectionError, ServerError>));
  EXPECT_FALSE((std::is_base_of_v<ConnectionError, PoolError>));
  EXPECT_FALSE((std::is_base_of_v<ConnectError, TimeoutError>));
  EXPECT_FALSE((std::is_base_of_v<ConnectionError, InvalidOptionsError>));
}

TEST(ServerErrorTest, PrefixIsTheFirstWord) {
  ServerError plain("WRONGTYPE Operation against a key holding the wrong kind of value");
  EXPECT_EQ(plain.prefix(), "WRONGTYPE");
  EXPECT_STREQ(plain.what(), "WRONGTYPE Operation against a key holding the wrong kind of value");

  ServerError with_context("NOSCRIPT No matching script", "EVALSHA on h:6379");
  EXPECT_EQ(with_context.prefix(), "NOSCRIPT");
  EXPECT_STREQ(with_context.what(), "EVALSHA on h:6379: NOSCRIPT No matching script");

  EXPECT_EQ(ServerError("LOADING").prefix(), "LOADING");
  EXPECT_EQ(ServerError("").prefix(), "");
}

}  // namespace
}  // namespace redis_session
