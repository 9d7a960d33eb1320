// Unit tests for parse_url(), ConnectionOptions::validate() and
// ConnectionOptions::endpoint(). No server needed.

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <string_view>

#include "redis_session/error.hpp"
#include "redis_session/redis/options.hpp"

namespace redis_session::redis {
namespace {

using namespace std::chrono_literals;

// Passes when `action` throws InvalidOptionsError (code invalid_options)
// whose message mentions `cause`.
template <class Action>
testing::AssertionResult throws_invalid(Action action, std::string_view cause) {
  try {
    action();
  } catch (const InvalidOptionsError& e) {
    std::string what = e.what();
    if (e.errc() != Errc::invalid_options) return testing::AssertionFailure() << "wrong code for: " << what;
    if (what.find(cause) == std::string::npos) {
      return testing::AssertionFailure() << "message \"" << what << "\" does not mention \"" << cause << "\"";
    }
    return testing::AssertionSuccess();
  }
  return testing::AssertionFailure() << "no InvalidOptionsError thrown";
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

TEST(ParseUrl, HostOnlyKeepsTheDefaults) {
  ConnectionOptions o = parse_url("redis://cache.internal");
  EXPECT_EQ(o.host, "cache.internal");
  EXPECT_EQ(o.port, 6379);
  EXPECT_EQ(o.db, 0);
  EXPECT_TRUE(o.username.empty());
  EXPECT_TRUE(o.password.empty());
  EXPECT_TRUE(o.unix_path.empty());
  EXPECT_FALSE(o.tls.enabled);

  EXPECT_EQ(parse_url("redis://127.0.0.1").host, "127.0.0.1");
}

TEST(ParseUrl, HostAndPort) {
  ConnectionOptions o = parse_url("redis://cache.internal:6380");
  EXPECT_EQ(o.host, "cache.internal");
  EXPECT_EQ(o.port, 6380);
  EXPECT_EQ(parse_url("redis://h:1").port, 1);
  EXPECT_EQ(parse_url("redis://h:65535").port, 65535);
}

TEST(ParseUrl, Database) {
  EXPECT_EQ(parse_url("redis://h/3").db, 3);
  EXPECT_EQ(parse_url("redis://h:6380/15").db, 15);
  EXPECT_EQ(parse_url("redis://h/0").db, 0);
  EXPECT_EQ(parse_url("redis://h/").db, 0);
  EXPECT_EQ(parse_url("redis://h?db=5").db, 5);
}

TEST(ParseUrl, UserAndPassword) {
  ConnectionOptions o = parse_url("redis://alice:pw123@h:6380/2");
  EXPECT_EQ(o.username, "alice");
  EXPECT_EQ(o.password, "pw123");
  EXPECT_EQ(o.host, "h");
  EXPECT_EQ(o.port, 6380);
  EXPECT_EQ(o.db, 2);
}

TEST(ParseUrl, EmptyUserWithPassword) {
  ConnectionOptions o = parse_url("redis://:pw123@h");
  EXPECT_TRUE(o.username.empty());
  EXPECT_EQ(o.password, "pw123");
  EXPECT_EQ(o.host, "h");
}

TEST(ParseUrl, PasswordOnly) {
  ConnectionOptions o = parse_url("redis://pw123@h");
  EXPECT_TRUE(o.username.empty());
  EXPECT_EQ(o.password, "pw123");
  EXPECT_EQ(o.host, "h");
}

TEST(ParseUrl, PercentEncodedCredentials) {
  ConnectionOptions o = parse_url("redis://us%65r:p%40ss%3Aw%25rd%2f@h");
  EXPECT_EQ(o.username, "user");
  EXPECT_EQ(o.password, "p@ss:w%rd/");
  EXPECT_EQ(o.host, "h");
}

TEST(ParseUrl, UnencodedAtInPasswordSplitsAtTheLastAt) {
  ConnectionOptions o = parse_url("redis://u:p@ss@h:6380");
  EXPECT_EQ(o.username, "u");
  EXPECT_EQ(o.password, "p@ss");
  EXPECT_EQ(o.host, "h");
  EXPECT_EQ(o.port, 6380);
}

TEST(ParseUrl, Ipv6InBrackets) {
  ConnectionOptions o = parse_url("redis://[::1]:6380");
  EXPECT_EQ(o.host, "::1");
  EXPECT_EQ(o.port, 6380);

  EXPECT_EQ(parse_url("redis://[::1]").port, 6379);
  ConnectionOptions full = parse_url("redis://u:p@[2001:db8::7]:7000/4");
  EXPECT_EQ(full.host, "2001:db8::7");
  EXPECT_EQ(full.port, 7000);
  EXPECT_EQ(full.db, 4);
  EXPECT_EQ(full.password, "p");
}

TEST(ParseUrl, RedissEnablesTls) {
  ConnectionOptions o = parse_url("rediss://:pw@secure.example:6380/1");
  EXPECT_TRUE(o.tls.enabled);
  EXPECT_TRUE(o.tls.verify_peer);
  EXPECT_EQ(o.host, "secure.example");
  EXPECT_EQ(o.port, 6380);
  EXPECT_EQ(o.db, 1);
  EXPECT_EQ(o.password, "pw");
}

TEST(ParseUrl, UnixSocket) {
  ConnectionOptions o = parse_url("unix:///tmp/r.sock");
  EXPECT_EQ(o.unix_path, "/tmp/r.sock");
  EXPECT_EQ(o.db, 0);
  EXPECT_FALSE(o.tls.enabled);
  EXPECT_TRUE(o.password.empty());
}

TEST(ParseUrl, UnixSocketWithDb) {
  ConnectionOptions o = parse_url("unix:///tmp/r.sock?db=3");
  EXPECT_EQ(o.unix_path, "/tmp/r.sock");
  EXPECT_EQ(o.db, 3);
}

TEST(ParseUrl, UnixSocketWithCredentials) {
  ConnectionOptions o = parse_url("unix://user:pw@/tmp/r.sock");
  EXPECT_EQ(o.unix_path, "/tmp/r.sock");
  EXPECT_EQ(o.username, "user");
  EXPECT_EQ(o.password, "pw");
}

TEST(ParseUrl, ParsedOptionsPassValidation) {
  for (const char* url : {"redis://h", "redis://u:p@h:1/2", "redis://:p@[::1]:6380", "rediss://p@h",
                          "unix:///tmp/r.sock?db=3", "unix://u:p@/tmp/r.sock"}) {
    EXPECT_NO_THROW(parse_url(url).validate()) << url;
  }
}

// ---------------------------------------------------------------- bad URLs

TEST(ParseUrlErrors, MissingScheme) {
  EXPECT_TRUE(rejects("cache.internal:6379", "missing scheme"));
  EXPECT_TRUE(rejects("redis:/h", "missing scheme"));
  EXPECT_TRUE(rejects("", "missing scheme"));
}

TEST(ParseUrlErrors, UnknownScheme) {
  EXPECT_TRUE(rejects("http://h", "unsupported scheme 'http'"));
  EXPECT_TRUE(rejects("REDIS://h", "unsupported scheme 'REDIS'"));
}

TEST(ParseUrlErrors, EmptyHost) {
  EXPECT_TRUE(rejects("redis://", "missing host"));
  EXPECT_TRUE(rejects("redis://:6379", "missing host"));
  EXPECT_TRUE(rejects("redis://u:p@/0", "missing host"));
  EXPECT_TRUE(rejects("redis://[]:6379", "missing host"));
}

TEST(ParseUrlErrors, PortOutOfRange) {
  EXPECT_TRUE(rejects("redis://h:0", "port '0' is not a number from 1 to 65535"));
  EXPECT_TRUE(rejects("redis://h:65536", "port '65536'"));
  EXPECT_TRUE(rejects("redis://h:70000", "port '70000'"));
  EXPECT_TRUE(rejects("redis://h:99999999999999999999", "port"));
}

TEST(ParseUrlErrors, NonNumericPort) {
  EXPECT_TRUE(rejects("redis://h:abc", "port 'abc'"));
  EXPECT_TRUE(rejects("redis://h:6379x", "port '6379x'"));
  EXPECT_TRUE(rejects("redis://h:-1", "port '-1'"));
  EXPECT_TRUE(rejects("redis://h:+1", "port '+1'"));
  EXPECT_TRUE(rejects("redis://h: 1", "port ' 1'"));
  EXPECT_TRUE(rejects("redis://h:", "empty port"));
  EXPECT_TRUE(rejects("redis://[::1]:", "empty port"));
}

TEST(ParseUrlErrors, NonNumericDb) {
  EXPECT_TRUE(rejects("redis://h/x", "db 'x'"));
  EXPECT_TRUE(rejects("redis://h/1x", "db '1x'"));
  EXPECT_TRUE(rejects("redis://h?db=", "db ''"));
  EXPECT_TRUE(rejects("unix:///tmp/r.sock?db=three", "db 'three'"));
}

TEST(ParseUrlErrors, NegativeDb) {
  EXPECT_TRUE(rejects("redis://h/-1", "db '-1' is not a number from 0"));
  EXPECT_TRUE(rejects("redis://h?db=-2", "db '-2'"));
  EXPECT_TRUE(rejects("unix:///tmp/r.sock?db=-1", "db '-1'"));
}

TEST(ParseUrlErrors, UnknownQueryParameter) {
  EXPECT_TRUE(rejects("redis://h?timeout=5", "unknown query parameter 'timeout'"));
  EXPECT_TRUE(rejects("redis://h?db=1&ssl=true", "unknown query parameter 'ssl'"));
  EXPECT_TRUE(rejects("unix:///tmp/r.sock?foo", "unknown query parameter 'foo'"));
}

TEST(ParseUrlErrors, BadPercentEscape) {
  EXPECT_TRUE(rejects("redis://u:p%4@h", "truncated %-escape in password"));
  EXPECT_TRUE(rejects("redis://u:p%@h", "truncated %-escape in password"));
  EXPECT_TRUE(rejects("redis://u:p%zz@h", "bad %-escape in password"));
  EXPECT_TRUE(rejects("redis://u%g1:p@h", "bad %-escape in user name"));
  EXPECT_TRUE(rejects("redis://%2@h", "truncated %-escape in password"));
}

TEST(ParseUrlErrors, BadIpv6Host) {
  EXPECT_TRUE(rejects("redis://[::1", "unterminated '[' in IPv6 host"));
  EXPECT_TRUE(rejects("redis://[::1:6380", "unterminated '['"));
  EXPECT_TRUE(rejects("redis://[::1]6380", "unexpected text after IPv6 host"));
}

TEST(ParseUrlErrors, UnixWithoutPath) {
  EXPECT_TRUE(rejects("unix://", "absolute socket path"));
  EXPECT_TRUE(rejects("unix://?db=1", "absolute socket path"));
  EXPECT_TRUE(rejects("unix:///", "needs a socket path"));
}

TEST(ParseUrlErrors, UnixWithHost) {
  EXPECT_TRUE(rejects("unix://localhost/tmp/r.sock", "takes no host"));
  EXPECT_TRUE(rejects("unix://u:p@localhost/tmp/r.sock", "takes no host"));
}

TEST(ParseUrlErrors, UnencodedSlashOrQuestionMarkInPassword) {
  EXPECT_TRUE(rejects("redis://u:pa/ss@h", "percent-encode '/' and '?'"));
  EXPECT_TRUE(rejects("redis://u:pa?ss@h", "percent-encode '/' and '?'"));
  EXPECT_TRUE(rejects("rediss://:1/pass@h:6380/2", "percent-encode '/' and '?'"));
  EXPECT_EQ(parse_url("redis://u:pa%2Fss%3F@h").password, "pa/ss?");
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

TEST(Validate, EmptyHost) {
  ConnectionOptions o = valid_tcp();
  o.host.clear();
  EXPECT_TRUE(invalid(o, "host is empty"));
}

TEST(Validate, PortZero) {
  ConnectionOptions o = valid_tcp();
  o.port = 0;
  EXPECT_TRUE(invalid(o, "port is 0"));
}

TEST(Validate, UnixSocketNeedsNoHostOrPort) {
  ConnectionOptions o = valid_unix();
  o.host.clear();
  o.port = 0;
  EXPECT_NO_THROW(o.validate());
}

TEST(Validate, TlsOverUnixSocket) {
  ConnectionOptions o = valid_unix();
  o.tls.enabled = true;
  EXPECT_TRUE(invalid(o, "TLS over a Unix socket"));
}

TEST(Validate, NegativeDb) {
  ConnectionOptions o = valid_tcp();
  o.db = -1;
  EXPECT_TRUE(invalid(o, "db is negative"));
  o.db = 15;
  EXPECT_NO_THROW(o.validate());
}

TEST(Validate, UsernameWithoutPassword) {
  ConnectionOptions o = valid_tcp();
  o.password.clear();
  EXPECT_TRUE(invalid(o, "username given without a password"));
  o.username.clear();
  o.password = "pw";
  EXPECT_NO_THROW(o.validate()) << "a password alone authenticates as the default user";
}

TEST(Validate, ConnectTimeoutMustBePositive) {
  ConnectionOptions o = valid_tcp();
  o.connect_timeout = 0ms;
  EXPECT_TRUE(invalid(o, "connect_timeout must be positive"));
  o.connect_timeout = -5ms;
  EXPECT_TRUE(invalid(o, "connect_timeout must be positive"));
  o.connect_timeout = 1ms;
  EXPECT_NO_THROW(o.validate());
}

TEST(Validate, CommandTimeoutMustBePositive) {
  ConnectionOptions o = valid_tcp();
  o.command_timeout = 0ms;
  EXPECT_TRUE(invalid(o, "command_timeout must be positive"));
  o.command_timeout = -1ms;
  EXPECT_TRUE(invalid(o, "command_timeout must be positive"));
  o.command_timeout = 1ms;
  EXPECT_NO_THROW(o.validate());
}

TEST(Validate, MaxReplyBytesAtLeast1024) {
  ConnectionOptions o = valid_tcp();
  o.max_reply_bytes = 1023;
  EXPECT_TRUE(invalid(o, "max_reply_bytes must be at least 1024"));
  o.max_reply_bytes = 0;
  EXPECT_TRUE(invalid(o, "max_reply_bytes"));
  o.max_reply_bytes = 1024;
  EXPECT_NO_THROW(o.validate());
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

TEST(Validate, TlsCertAndKeyGoTogether) {
  ConnectionOptions o = valid_tcp();
  o.tls.enabled = true;
  o.tls.cert_file = "client.pem";
  EXPECT_TRUE(invalid(o, "tls.cert_file and tls.key_file go together"));
  o.tls.cert_file.clear();
  o.tls.key_file = "client.key";
  EXPECT_TRUE(invalid(o, "tls.cert_file and tls.key_file go together"));
  o.tls.cert_file = "client.pem";
  EXPECT_NO_THROW(o.validate());
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

TEST(Endpoint, Ipv6InBrackets) { EXPECT_EQ(parse_url("redis://[::1]:6380").endpoint(), "[::1]:6380"); }

TEST(Endpoint, UnixSocket) { EXPECT_EQ(parse_url("unix:///tmp/r.sock").endpoint(), "unix:/tmp/r.sock"); }

TEST(Endpoint, TlsIsMarked) { EXPECT_EQ(parse_url("rediss://h:6380").endpoint(), "rediss://h:6380"); }

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
