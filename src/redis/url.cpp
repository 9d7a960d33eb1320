#include <algorithm>
#include <charconv>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "redis_session/detail/percent.hpp"
#include "redis_session/error.hpp"
#include "redis_session/redis/options.hpp"
#include "redis_session/redis/topology.hpp"

namespace redis_session::redis {
namespace {

[[noreturn]] void bad_url(const std::string& why) {
  throw InvalidOptionsError("invalid Redis URL: " + why);
}

std::string percent_decoded(std::string_view in, const char* what) {
  std::string out;
  const detail::PercentError error = detail::percent_decode_to(out, in);
  if (error == detail::PercentError::truncated) bad_url(std::string("truncated %-escape in ") + what);
  if (error == detail::PercentError::bad_digit) bad_url(std::string("bad %-escape in ") + what);
  return out;
}

template <class Int>
Int parse_number(std::string_view text, Int lo, Int hi, const char* what) {
  Int value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < lo || value > hi) {
    bad_url(std::string(what) + " '" + std::string(text) + "' is not a number from " + std::to_string(lo) + " to " +
            std::to_string(hi));
  }
  return value;
}

int parse_db(std::string_view text) {
  return parse_number<int>(text, 0, 1 << 20, "db");
}

// Cuts "?query" off the end of `rest` and returns it.
std::string_view take_query(std::string_view& rest) {
  auto q = rest.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view query = rest.substr(q + 1);
  rest = rest.substr(0, q);
  return query;
}

// Cuts "/path" off the end of `authority` and returns the path without its
// '/'. An unencoded '/' or '?' in the password ends the authority early; say
// so rather than quote the rest of the password back as a bad port, db or
// query.
std::string_view take_path(std::string_view& authority, std::string_view query, const char* hosts) {
  std::string_view path;
  if (auto slash = authority.find('/'); slash != std::string_view::npos) {
    path = authority.substr(slash + 1);
    authority = authority.substr(0, slash);
  }
  if (path.find('@') != std::string_view::npos || query.find('@') != std::string_view::npos) {
    bad_url(std::string("'@' after the ") + hosts + " (percent-encode '/' and '?' in the user name and password)");
  }
  return path;
}

// "host", "host:port", "[ipv6]" or "[ipv6]:port", split. The port is
// nullopt without a ':' and empty for "host:"; each caller words the errors.
struct HostPort {
  enum Error { none, unterminated, text_after_bracket };
  std::string_view host;
  std::optional<std::string_view> port;
  Error error = none;
};

HostPort split_host_port(std::string_view text) {
  HostPort out{text};
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return {text, std::nullopt, HostPort::unterminated};
    out.host = text.substr(1, close - 1);
    std::string_view after = text.substr(close + 1);
    if (after.empty()) return out;
    if (after.front() != ':') return {out.host, std::nullopt, HostPort::text_after_bracket};
    out.port = after.substr(1);
  } else if (auto colon = text.rfind(':'); colon != std::string_view::npos) {
    out.host = text.substr(0, colon);
    out.port = text.substr(colon + 1);
  }
  return out;
}

// Splits "[user]:password@" off the front of authority, when present.
void parse_userinfo(std::string_view& authority, ConnectionOptions& out) {
  auto at = authority.rfind('@');
  if (at == std::string_view::npos) return;
  std::string_view userinfo = authority.substr(0, at);
  authority.remove_prefix(at + 1);
  auto colon = userinfo.find(':');
  if (colon == std::string_view::npos) {
    // redis://secret@host is the common "password only" spelling.
    out.password = percent_decoded(userinfo, "password");
    return;
  }
  out.username = percent_decoded(userinfo.substr(0, colon), "user name");
  out.password = percent_decoded(userinfo.substr(colon + 1), "password");
}

void parse_query(std::string_view query, ConnectionOptions& out) {
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    auto eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    if (key == "db") {
      out.db = parse_db(value);
    } else {
      bad_url("unknown query parameter '" + std::string(key) + "' (supported: db)");
    }
  }
}

}  // namespace

ConnectionOptions parse_url(std::string_view url) {
  ConnectionOptions out;
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) bad_url("missing scheme (expected redis://, rediss:// or unix://)");
  std::string_view scheme = url.substr(0, scheme_end);
  std::string_view rest = url.substr(scheme_end + 3);

  std::string_view query = take_query(rest);

  if (scheme == "unix") {
    // unix://[user:pass@]/path: the authority ends where the absolute path begins.
    auto slash = rest.find('/');
    if (slash == std::string_view::npos) bad_url("unix:// needs an absolute socket path");
    std::string_view authority = rest.substr(0, slash);
    parse_userinfo(authority, out);
    if (!authority.empty()) bad_url("unix:// takes no host, only a path");
    out.unix_path = percent_decoded(rest.substr(slash), "path");
    if (out.unix_path.size() <= 1) bad_url("unix:// needs a socket path");
    parse_query(query, out);
    return out;
  }
  if (scheme == "rediss") {
    out.tls.enabled = true;
  } else if (scheme != "redis") {
    // Quote the scheme only when it is plainly one: a garbled URL may carry a password before "://".
    bool plain = scheme.size() <= 16 && std::all_of(scheme.begin(), scheme.end(), [](char c) {
                   return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+';
                 });
    bad_url("unsupported scheme" + (plain ? " '" + std::string(scheme) + "'" : std::string()) +
            " (expected redis://, rediss:// or unix://)");
  }

  std::string_view authority = rest;
  std::string_view path = take_path(authority, query, "host");
  parse_userinfo(authority, out);

  const HostPort hp = split_host_port(authority);
  if (hp.error == HostPort::unterminated) bad_url("unterminated '[' in IPv6 host");
  if (hp.error == HostPort::text_after_bracket) bad_url("unexpected text after IPv6 host");
  if (hp.port && hp.port->empty()) bad_url("empty port");
  if (hp.host.empty()) bad_url("missing host");
  out.host = std::string(hp.host);
  if (hp.port) out.port = parse_number<std::uint16_t>(*hp.port, 1, 65535, "port");
  if (!path.empty()) out.db = parse_db(path);
  parse_query(query, out);
  return out;
}

void ConnectionOptions::validate() const {
  auto bad = [](const std::string& why) { throw InvalidOptionsError("invalid connection options: " + why); };
  if (unix_path.empty()) {
    if (host.empty()) bad("host is empty");
    for (char c : host) {
      // Names, IPv4, IPv6 (without brackets) and an IPv6 zone ("fe80::1%eth0").
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
                c == '_' || c == ':' || c == '%';
      if (!ok) bad("host may contain only letters, digits and . - _ : %");
    }
    if (port == 0) bad("port is 0");
  } else if (tls.enabled) {
    bad("TLS over a Unix socket is not supported");
  }
  if (db < 0) bad("db is negative");
  if (!username.empty() && password.empty()) bad("username given without a password");
  if (connect_timeout <= std::chrono::milliseconds::zero()) bad("connect_timeout must be positive");
  if (command_timeout <= std::chrono::milliseconds::zero()) bad("command_timeout must be positive");
  if (max_reply_bytes < 1024) bad("max_reply_bytes must be at least 1024");
  for (char c : client_name) {
    if (c <= ' ' || c > '~') bad("client_name may contain only printable characters without spaces");
  }
  if (tls.cert_file.empty() != tls.key_file.empty()) bad("tls.cert_file and tls.key_file go together");
}

std::string ConnectionOptions::endpoint() const {
  if (!unix_path.empty()) return "unix:" + unix_path;
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return (tls.enabled ? "rediss://" : "") + h + ":" + std::to_string(port);
}

}  // namespace redis_session::redis

// ---------------------------------------------------------------- topologies

namespace redis_session::redis {

std::pair<std::string, std::uint16_t> parse_host_port(std::string_view text) {
  auto bad = [&](const std::string& why) {
    throw InvalidOptionsError("invalid node address '" + std::string(text.substr(0, 64)) + "': " + why);
  };
  const HostPort hp = split_host_port(text);
  if (hp.error == HostPort::unterminated) bad("unterminated '['");
  if (hp.error == HostPort::text_after_bracket || !hp.port) bad("expected host:port");
  const std::string_view host = hp.host;
  const std::string_view port = *hp.port;
  if (host.empty()) bad("missing host");
  std::uint16_t number = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || number == 0) bad("bad port");
  ConnectionOptions probe;
  probe.host = std::string(host);
  probe.port = number;
  probe.validate();  // the host's characters
  return {probe.host, number};
}

bool is_topology_url(std::string_view url) {
  for (std::string_view scheme : {"redis+cluster://", "rediss+cluster://", "redis+sentinel://", "rediss+sentinel://"}) {
    if (url.substr(0, scheme.size()) == scheme) return true;
  }
  return false;
}

TopologyUrl parse_topology_url(std::string_view url) {
  auto scheme_end = url.find("://");
  std::string_view scheme = scheme_end == std::string_view::npos ? std::string_view() : url.substr(0, scheme_end);
  bool cluster = scheme == "redis+cluster" || scheme == "rediss+cluster";
  bool sentinel = scheme == "redis+sentinel" || scheme == "rediss+sentinel";
  if (!cluster && !sentinel)
    bad_url("expected redis+cluster://, rediss+cluster://, redis+sentinel:// or rediss+sentinel://");
  TopologyUrl out;
  out.connection.tls.enabled = scheme.front() == 'r' && scheme.substr(0, 6) == "rediss";
  std::string_view rest = url.substr(scheme_end + 3);
  std::string_view query = take_query(rest);
  std::string_view authority = rest;
  std::string_view path = take_path(authority, query, "hosts");
  parse_userinfo(authority, out.connection);
  std::vector<std::string> nodes;
  while (!authority.empty()) {
    auto comma = authority.find(',');
    std::string_view one = authority.substr(0, comma);
    authority = comma == std::string_view::npos ? std::string_view() : authority.substr(comma + 1);
    if (one.empty()) bad_url("empty host in the list");
    if (one.find(':') == std::string_view::npos) {
      nodes.push_back(std::string(one) + (cluster ? ":6379" : ":26379"));  // the default ports
    } else {
      nodes.emplace_back(one);
    }
    parse_host_port(nodes.back());
  }
  if (nodes.empty()) bad_url("missing host");
  parse_query(query, out.connection);
  if (cluster) {
    if (!path.empty()) bad_url("a cluster URL has no path (Redis Cluster has only db 0)");
    if (out.connection.db != 0) bad_url("Redis Cluster has only db 0");
    out.cluster.emplace();
    out.cluster->seeds = std::move(nodes);
  } else {
    auto slash = path.find('/');
    std::string_view name = path.substr(0, slash);
    if (name.empty()) bad_url("a sentinel URL needs the master name as its path: redis+sentinel://host:port/name");
    if (slash != std::string_view::npos) out.connection.db = parse_db(path.substr(slash + 1));
    out.sentinel.emplace();
    out.sentinel->master_name = percent_decoded(name, "master name");
    out.sentinel->sentinels = std::move(nodes);
  }
  return out;
}

}  // namespace redis_session::redis
