#include <algorithm>
#include <charconv>
#include <string>
#include <utility>
#include <vector>

#include "redis_session/error.hpp"
#include "redis_session/redis/options.hpp"
#include "redis_session/redis/topology.hpp"

namespace redis_session::redis {
namespace {

[[noreturn]] void bad_url(const std::string& why) { throw InvalidOptionsError("invalid Redis URL: " + why); }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view in, const char* what) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) bad_url(std::string("truncated %-escape in ") + what);
    int hi = hex_value(in[i + 1]);
    int lo = hex_value(in[i + 2]);
    if (hi < 0 || lo < 0) bad_url(std::string("bad %-escape in ") + what);
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
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

// Splits "[user]:password@" off the front of authority, when present.
void parse_userinfo(std::string_view& authority, ConnectionOptions& out) {
  auto at = authority.rfind('@');
  if (at == std::string_view::npos) return;
  std::string_view userinfo = authority.substr(0, at);
  authority.remove_prefix(at + 1);
  auto colon = userinfo.find(':');
  if (colon == std::string_view::npos) {
    // redis://secret@host is the common "password only" spelling.
    out.password = percent_decode(userinfo, "password");
    return;
  }
  out.username = percent_decode(userinfo.substr(0, colon), "user name");
  out.password = percent_decode(userinfo.substr(colon + 1), "password");
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
      out.db = parse_number<int>(value, 0, 1 << 20, "db");
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

  std::string_view query;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }

  if (scheme == "unix") {
    // unix://[user:pass@]/path: the authority ends where the absolute path begins.
    auto slash = rest.find('/');
    if (slash == std::string_view::npos) bad_url("unix:// needs an absolute socket path");
    std::string_view authority = rest.substr(0, slash);
    parse_userinfo(authority, out);
    if (!authority.empty()) bad_url("unix:// takes no host, only a path");
    out.unix_path = percent_decode(rest.substr(slash), "path");
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
  std::string_view path;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    authority = rest.substr(0, slash);
    path = rest.substr(slash + 1);
  }
  // An unencoded '/' or '?' in the password ends the authority early; say so
  // rather than quote the rest of the password back as a bad port, db or query.
  if (path.find('@') != std::string_view::npos || query.find('@') != std::string_view::npos) {
    bad_url("'@' after the host (percent-encode '/' and '?' in the user name and password)");
  }
  parse_userinfo(authority, out);

  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) bad_url("unterminated '[' in IPv6 host");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') bad_url("unexpected text after IPv6 host");
      port = after.substr(1);
      if (port.empty()) bad_url("empty port");
    }
  } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.empty()) bad_url("empty port");
  }
  if (host.empty()) bad_url("missing host");
  out.host = std::string(host);
  if (!port.empty()) out.port = parse_number<std::uint16_t>(port, 1, 65535, "port");
  if (!path.empty()) out.db = parse_number<int>(path, 0, 1 << 20, "db");
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
  std::string_view host = text;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) bad("unterminated '['");
    host = text.substr(1, close - 1);
    if (text.substr(close + 1, 1) != ":") bad("expected host:port");
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) bad("expected host:port");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
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
  if (!cluster && !sentinel) bad_url("expected redis+cluster://, rediss+cluster://, redis+sentinel:// or rediss+sentinel://");
  TopologyUrl out;
  out.connection.tls.enabled = scheme.front() == 'r' && scheme.substr(0, 6) == "rediss";
  std::string_view rest = url.substr(scheme_end + 3);
  std::string_view query;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  std::string_view authority = rest;
  std::string_view path;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    authority = rest.substr(0, slash);
    path = rest.substr(slash + 1);
  }
  if (path.find('@') != std::string_view::npos || query.find('@') != std::string_view::npos) {
    bad_url("'@' after the hosts (percent-encode '/' and '?' in the user name and password)");
  }
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
    if (slash != std::string_view::npos) out.connection.db = parse_number<int>(path.substr(slash + 1), 0, 1 << 20, "db");
    out.sentinel.emplace();
    out.sentinel->master_name = percent_decode(name, "master name");
    out.sentinel->sentinels = std::move(nodes);
  }
  return out;
}

}  // namespace redis_session::redis
