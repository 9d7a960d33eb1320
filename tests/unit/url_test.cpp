// Unit tests for parse_url(), ConnectionOptions::validate() and
// ConnectionOptions::endpoint(). No server needed.

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <string_view>
#include <utility>

#include "redis_session/error.hpp"
#include "redis_session/redis/options.hpp"
#include "support/throws.hpp"

namespace redis_session::redis {
namespace {

using namespace std::chrono_literals;

template <class Action>
testing::AssertionResult throws_invalid(Action action, std::string_view cause) {
  return test::throws_error<InvalidOptionsError>(action, Errc::invalid_options, cause);
}

testing::AssertionResult rejects(std::string_view url, std::string_view cause) {
  return throws_invalid([&] { parse_url(url); }, cause) << " (url " << url << ")";
}

testing::AssertionResult invalid(const ConnectionOptions& options, std::string_view cause) {
  return throws_invalid([&] { options.validate(); }, cause);
}

// ---------------------------------------------------------------- valid URLs

TEST(ConnectionOptions, Defaults) {
  ConnectionOptions o;
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.port, 6379);
  EXPECT_EQ(o.db, 0);
  EXPECT_TRUE(o.unix_path.empty());
  EXPECT_TRUE(o.username.empty());
  EXPECT_TRUE(o.password.empty());
  EXPECT_FALSE(o.tls.enabled);
  EXPECT_TRUE(o.tls.verify_peer);
  EXPECT_NO_THROW(o.validate());
}

// Every field a URL can set, in one line, so that each row below checks
// them all.
std::string fields(const ConnectionOptions& o) {
  return "user=" + o.username + " password=" + o.password + " host=" + o.host + " port=" + std::to_string(o.port) +
         " db=" + std::to_string(o.db) + " unix=" + o.unix_path + (o.tls.enabled ? " tls" : "") +
         (o.tls.verify_peer ? "" : " unverified");
}

// Host only keeps the defaults; percent-encoded credentials are decoded; an
// unencoded '@' in the password splits at the last '@'; IPv6 hosts go in
// brackets; rediss:// turns TLS on (verified); unix:// takes a path.
const std::pair<const char*, const char*> kGoodUrls[] = {
    {"redis://cache.internal", "user= password= host=cache.internal port=6379 db=0 unix="},
    {"redis://127.0.0.1", "user= password= host=127.0.0.1 port=6379 db=0 unix="},
    {"redis://cache.internal:6380", "user= password= host=cache.internal port=6380 db=0 unix="},
    {"redis://h:1", "user= password= host=h port=1 db=0 unix="},
    {"redis://h:65535", "user= password= host=h port=65535 db=0 unix="},
    {"redis://h/3", "user= password= host=h port=6379 db=3 unix="},
    {"redis://h:6380/15", "user= password= host=h port=6380 db=15 unix="},
    {"redis://h/0", "user= password= host=h port=6379 db=0 unix="},
    {"redis://h/", "user= password= host=h port=6379 db=0 unix="},
    {"redis://h?db=5", "user= password= host=h port=6379 db=5 unix="},
    {"redis://alice:pw123@h:6380/2", "user=alice password=pw123 host=h port=6380 db=2 unix="},
    {"redis://:pw123@h", "user= password=pw123 host=h port=6379 db=0 unix="},
    {"redis://pw123@h", "user= password=pw123 host=h port=6379 db=0 unix="},
    {"redis://us%65r:p%40ss%3Aw%25rd%2f@h", "user=user password=p@ss:w%rd/ host=h port=6379 db=0 unix="},
    {"redis://u:pa%2Fss%3F@h", "user=u password=pa/ss? host=h port=6379 db=0 unix="},
    {"redis://u:p@ss@h:6380", "user=u password=p@ss host=h port=6380 db=0 unix="},
    {"redis://[::1]:6380", "user= password= host=::1 port=6380 db=0 unix="},
    {"redis://[::1]", "user= password= host=::1 port=6379 db=0 unix="},
    {"redis://u:p@[2001:db8::7]:7000/4", "user=u password=p host=2001:db8::7 port=7000 db=4 unix="},
    {"rediss://:pw@secure.example:6380/1", "user= password=pw host=secure.example port=6380 db=1 unix= tls"},
    {"unix:///tmp/r.sock", "user= password= host=127.0.0.1 port=6379 db=0 unix=/tmp/r.sock"},
    {"unix:///tmp/r.sock?db=3", "user= password= host=127.0.0.1 port=6379 db=3 unix=/tmp/r.sock"},
    {"unix://user:pw@/tmp/r.sock", "user=user password=pw host=127.0.0.1 port=6379 db=0 unix=/tmp/r.sock"},
};

TEST(ParseUrl, EachUrlSetsItsFields) {
  for (const auto& [url, expected] : kGoodUrls) EXPECT_EQ(fields(parse_url(url)), expected) << url;
}

TEST(ParseUrl, ParsedOptionsPassValidation) {
  for (const char* url : {"redis://h", "redis://u:p@h:1/2", "redis://:p@[::1]:6380", "rediss://p@h",
                          "unix:///tmp/r.sock?db=3", "unix://u:p@/tmp/r.sock"}) {
    EXPECT_NO_THROW(parse_url(url).validate()) << url;
  }
}

// ---------------------------------------------------------------- bad URLs

// Each bad URL, the test group it stands for, and what its message names.
struct BadUrl {
  const char* group;
  const char* url;
  const char* cause;
};

constexpr BadUrl kBadUrls[] = {
    {"MissingScheme", "cache.internal:6379", "missing scheme"},
    {"MissingScheme", "redis:/h", "missing scheme"},
    {"MissingScheme", "", "missing scheme"},
    {"UnknownScheme", "http://h", "unsupported scheme 'http'"},
    {"UnknownScheme", "REDIS://h", "unsupported scheme 'REDIS'"},
    {"EmptyHost", "redis://", "missing host"},
    {"EmptyHost", "redis://:6379", "missing host"},
    {"EmptyHost", "redis://u:p@/0", "missing host"},
    {"EmptyHost", "redis://[]:6379", "missing host"},
    {"PortOutOfRange", "redis://h:0", "port '0' is not a number from 1 to 65535"},
    {"PortOutOfRange", "redis://h:65536", "port '65536'"},
    {"PortOutOfRange", "redis://h:70000", "port '70000'"},
    {"PortOutOfRange", "redis://h:99999999999999999999", "port"},
    {"NonNumericPort", "redis://h:abc", "port 'abc'"},
    {"NonNumericPort", "redis://h:6379x", "port '6379x'"},
    {"NonNumericPort", "redis://h:-1", "port '-1'"},
    {"NonNumericPort", "redis://h:+1", "port '+1'"},
    {"NonNumericPort", "redis://h: 1", "port ' 1'"},
    {"NonNumericPort", "redis://h:", "empty port"},
    {"NonNumericPort", "redis://[::1]:", "empty port"},
    {"NonNumericDb", "redis://h/x", "db 'x'"},
    {"NonNumericDb", "redis://h/1x", "db '1x'"},
    {"NonNumericDb", "redis://h?db=", "db ''"},
    {"NonNumericDb", "unix:///tmp/r.sock?db=three", "db 'three'"},
    {"NegativeDb", "redis://h/-1", "db '-1' is not a number from 0"},
    {"NegativeDb", "redis://h?db=-2", "db '-2'"},
    {"NegativeDb", "unix:///tmp/r.sock?db=-1", "db '-1'"},
    {"UnknownQueryParameter", "redis://h?timeout=5", "unknown query parameter 'timeout'"},
    {"UnknownQueryParameter", "redis://h?db=1&ssl=true", "unknown query parameter 'ssl'"},
    {"UnknownQueryParameter", "unix:///tmp/r.sock?foo", "unknown query parameter 'foo'"},
    {"BadPercentEscape", "redis://u:p%4@h", "truncated %-escape in password"},
    {"BadPercentEscape", "redis://u:p%@h", "truncated %-escape in password"},
    {"BadPercentEscape", "redis://u:p%zz@h", "bad %-escape in password"},
    {"BadPercentEscape", "redis://u%g1:p@h", "bad %-escape in user name"},
    {"BadPercentEscape", "redis://%2@h", "truncated %-escape in password"},
    {"BadIpv6Host", "redis://[::1", "unterminated '[' in IPv6 host"},
    {"BadIpv6Host", "redis://[::1:6380", "unterminated '['"},
    {"BadIpv6Host", "redis://[::1]6380", "unexpected text after IPv6 host"},
    {"UnixWithoutPath", "unix://", "absolute socket path"},
    {"UnixWithoutPath", "unix://?db=1", "absolute socket path"},
    {"UnixWithoutPath", "unix:///", "needs a socket path"},
    {"UnixWithHost", "unix://localhost/tmp/r.sock", "takes no host"},
    {"UnixWithHost", "unix://u:p@localhost/tmp/r.sock", "takes no host"},
    {"UnencodedSlashOrQuestionMarkInPassword", "redis://u:pa/ss@h", "percent-encode '/' and '?'"},
    {"UnencodedSlashOrQuestionMarkInPassword", "redis://u:pa?ss@h", "percent-encode '/' and '?'"},
    {"UnencodedSlashOrQuestionMarkInPassword", "rediss://:1/pass@h:6380/2", "percent-encode '/' and '?'"},
};

TEST(ParseUrlErrors, EachBadUrlIsRejectedWithItsCause) {
  for (const BadUrl& bad : kBadUrls) EXPECT_TRUE(rejects(bad.url, bad.cause)) << " [" << bad.group << "]";
}

// A URL's password must never reach an error message, which ends up in logs.
TEST(ParseUrlErrors, MessagesNeverContainThePassword) {
  const char* urls[] = {
      "redis://u:s3cretPW@host:notaport",
      "redis://u:s3cretPW@host:0",
      "redis://:s3cretPW@host:70000",
      "redis://s3cretPW@host:abc",
      "redis://u:s3cretPW@host/notadb",
      "redis://u:s3cretPW@host/-1",
      "redis://u:s3cretPW@host?timeout=1",
      "redis://u:s3cretPW@[::1",
      "redis://u:s3cretPW@[::1]x",
      "redis://u:s3cretPW@",
      "rediss://u:s3cretPW@:6379",
      "http://u:s3cretPW@host",
      "u:s3cretPW@host:6379",
      "redis://u:s3cretPW%zz@host",
      "redis://u:s3cretPW%4@host",
      "unix://u:s3cretPW@host/tmp/r.sock",
      "unix://u:s3cretPW@/tmp/r.sock?db=x",
      "unix://u:s3cretPW@",
      // Unencoded '/' or '?' in the password ends the authority early, so
      // parts of the password land where the port, db or query is expected.
      "redis://u:s3cretPW/x@host",
      "redis://u:x/s3cretPW@host",
      "redis://u:6379/s3cretPW@host",
      "redis://u:s3cretPW?x@host",
      "redis://u:x?s3cretPW@host",
      "rediss://:s3cretPW/@host:6380",
      "unix://u:x/s3cretPW@/tmp/r.sock",
      "unix://u:x?s3cretPW@/tmp/r.sock",
  };
  for (const char* url : urls) {
    try {
      ConnectionOptions o = parse_url(url);
      ADD_FAILURE() << url << " parsed (host '" << o.host << "'), expected an InvalidOptionsError";
    } catch (const InvalidOptionsError& e) {
      EXPECT_EQ(std::string(e.what()).find("s3cretPW"), std::string::npos) << e.what();
    }
  }
}

// ---------------------------------------------------------------- validate()

ConnectionOptions valid_tcp() {
  ConnectionOptions o;
  o.host = "h";
  o.username = "alice";
  o.password = "s3cretPW";
  return o;
}

ConnectionOptions valid_unix() {
  ConnectionOptions o;
  o.unix_path = "/tmp/r.sock";
  return o;
}

// A change to valid_tcp(), and what validate() must then say (nullptr: the
// options are still valid).
struct OptionsChange {
  const char* group;
  void (*apply)(ConnectionOptions&);
  const char* cause;
};

const OptionsChange kOptionsChanges[] = {
    {"EmptyHost", [](ConnectionOptions& o) { o.host.clear(); }, "host is empty"},
    {"PortZero", [](ConnectionOptions& o) { o.port = 0; }, "port is 0"},
    {"UnixSocketNeedsNoHostOrPort",
     [](ConnectionOptions& o) {
       o = valid_unix();
       o.host.clear();
       o.port = 0;
     },
     nullptr},
    {"TlsOverUnixSocket",
     [](ConnectionOptions& o) {
       o = valid_unix();
       o.tls.enabled = true;
     },
     "TLS over a Unix socket"},
    {"NegativeDb", [](ConnectionOptions& o) { o.db = -1; }, "db is negative"},
    {"NegativeDb", [](ConnectionOptions& o) { o.db = 15; }, nullptr},
    {"UsernameWithoutPassword", [](ConnectionOptions& o) { o.password.clear(); }, "username given without a password"},
    {"PasswordAloneAuthenticatesAsTheDefaultUser",
     [](ConnectionOptions& o) {
       o.username.clear();
       o.password = "pw";
     },
     nullptr},
    {"ConnectTimeoutMustBePositive", [](ConnectionOptions& o) { o.connect_timeout = 0ms; },
     "connect_timeout must be positive"},
    {"ConnectTimeoutMustBePositive", [](ConnectionOptions& o) { o.connect_timeout = -5ms; },
     "connect_timeout must be positive"},
    {"ConnectTimeoutMustBePositive", [](ConnectionOptions& o) { o.connect_timeout = 1ms; }, nullptr},
    {"CommandTimeoutMustBePositive", [](ConnectionOptions& o) { o.command_timeout = 0ms; },
     "command_timeout must be positive"},
    {"CommandTimeoutMustBePositive", [](ConnectionOptions& o) { o.command_timeout = -1ms; },
     "command_timeout must be positive"},
    {"CommandTimeoutMustBePositive", [](ConnectionOptions& o) { o.command_timeout = 1ms; }, nullptr},
    {"MaxReplyBytesAtLeast1024", [](ConnectionOptions& o) { o.max_reply_bytes = 1023; },
     "max_reply_bytes must be at least 1024"},
    {"MaxReplyBytesAtLeast1024", [](ConnectionOptions& o) { o.max_reply_bytes = 0; }, "max_reply_bytes"},
    {"MaxReplyBytesAtLeast1024", [](ConnectionOptions& o) { o.max_reply_bytes = 1024; }, nullptr},
    {"TlsCertAndKeyGoTogether",
     [](ConnectionOptions& o) {
       o.tls.enabled = true;
       o.tls.cert_file = "client.pem";
     },
     "tls.cert_file and tls.key_file go together"},
    {"TlsCertAndKeyGoTogether",
     [](ConnectionOptions& o) {
       o.tls.enabled = true;
       o.tls.key_file = "client.key";
     },
     "tls.cert_file and tls.key_file go together"},
    {"TlsCertAndKeyGoTogether",
     [](ConnectionOptions& o) {
       o.tls.enabled = true;
       o.tls.cert_file = "client.pem";
       o.tls.key_file = "client.key";
     },
     nullptr},
};

TEST(Validate, EachChangeIsJudged) {
  for (const OptionsChange& change : kOptionsChanges) {
    ConnectionOptions o = valid_tcp();
    change.apply(o);
    if (change.cause) {
      EXPECT_TRUE(invalid(o, change.cause)) << " [" << change.group << "]";
    } else {
      EXPECT_NO_THROW(o.validate()) << change.group;
    }
  }
}

TEST(Validate, ClientNameIsPrintableWithoutSpaces) {
  ConnectionOptions o = valid_tcp();
  for (const char* bad : {"my app", "tab\there", "new\nline", "del\x7f", "caf\xc3\xa9"}) {
    o.client_name = bad;
    EXPECT_TRUE(invalid(o, "client_name")) << bad;
  }
  for (const char* good : {"", "my-app_1.2", "~!#"}) {
    o.client_name = good;
    EXPECT_NO_THROW(o.validate()) << good;
  }
}

TEST(Validate, MessagesNeverContainThePassword) {
  ConnectionOptions o = valid_tcp();
  o.port = 0;
  try {
    o.validate();
    ADD_FAILURE() << "port 0 validated";
  } catch (const InvalidOptionsError& e) {
    EXPECT_EQ(std::string(e.what()).find("s3cretPW"), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------- endpoint()

TEST(Endpoint, HostAndPort) {
  ConnectionOptions o;
  o.host = "cache.internal";
  o.port = 6380;
  EXPECT_EQ(o.endpoint(), "cache.internal:6380");
  EXPECT_EQ(ConnectionOptions{}.endpoint(), "127.0.0.1:6379");
}

TEST(Endpoint, Ipv6InBrackets) {
  EXPECT_EQ(parse_url("redis://[::1]:6380").endpoint(), "[::1]:6380");
}

TEST(Endpoint, UnixSocket) {
  EXPECT_EQ(parse_url("unix:///tmp/r.sock").endpoint(), "unix:/tmp/r.sock");
}

TEST(Endpoint, TlsIsMarked) {
  EXPECT_EQ(parse_url("rediss://h:6380").endpoint(), "rediss://h:6380");
}

TEST(Endpoint, NeverContainsCredentials) {
  for (const char* url : {"redis://alice:s3cretPW@h:6380/2", "rediss://:s3cretPW@[::1]", "redis://s3cretPW@h",
                          "unix://alice:s3cretPW@/tmp/r.sock"}) {
    std::string endpoint = parse_url(url).endpoint();
    EXPECT_EQ(endpoint.find("s3cretPW"), std::string::npos) << endpoint;
    EXPECT_EQ(endpoint.find("alice"), std::string::npos) << endpoint;
    EXPECT_EQ(endpoint.find('@'), std::string::npos) << endpoint;
  }
}

}  // namespace
}  // namespace redis_session::redis

namespace redis_session::redis {
namespace {

// Found by fuzz_url: a host of arbitrary bytes passed validation.
TEST(Validate, HostMayHoldOnlyHostCharacters) {
  for (std::string bad : {std::string("r\xd2,\xff"), std::string("a b"), std::string("a/b"), std::string("a@b"),
                          std::string("a\nb"), std::string("a\0b", 3)}) {
    ConnectionOptions o;
    o.host = bad;
    EXPECT_THROW(o.validate(), InvalidOptionsError);
  }
  for (std::string good : {"localhost", "redis-1.example.com", "10.0.0.1", "::1", "fe80::1%eth0", "my_host"}) {
    ConnectionOptions o;
    o.host = good;
    EXPECT_NO_THROW(o.validate()) << good;
  }
}

}  // namespace
}  // namespace redis_session::redis
