#pragma once
// How to reach one Redis server. A plain aggregate: set fields directly, or
// start from parse_url(). validate() runs before any I/O and throws
// InvalidOptionsError naming the bad field.
//
// Thread safety: a value type.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace redis_session::redis {

struct TlsOptions {
  bool enabled = false;
  // Verify the server's certificate chain and that it names server_name (or
  // host). Turning this off is an explicit, insecure opt-out.
  bool verify_peer = true;
  std::string ca_file;    // PEM bundle of trusted CAs; empty with ca_dir empty: the system's
  std::string ca_dir;     // OpenSSL hashed CA directory
  std::string cert_file;  // client certificate (PEM), for servers that require one
  std::string key_file;   // client private key (PEM)
  std::string server_name;  // SNI and verification name; empty: host
};

struct ConnectionOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  std::string unix_path;  // when set, connect to this Unix socket instead of host:port
  std::string username;   // ACL user; empty: AUTH with password only (the default user)
  std::string password;   // empty: no AUTH
  int db = 0;             // SELECT after connecting (skipped for 0)
  std::string client_name = "redis_session";  // CLIENT SETNAME; empty: not sent
  TlsOptions tls;
  // DNS + TCP connect + TLS handshake + AUTH/SELECT/SETNAME, together.
  std::chrono::milliseconds connect_timeout{2000};
  // One command or pipeline: from the first byte written to the last byte read.
  std::chrono::milliseconds command_timeout{1000};
  // Replies larger than this are a ProtocolError (Redis's own bulk limit).
  std::size_t max_reply_bytes = 512u * 1024 * 1024;

  // Throws InvalidOptionsError naming the first bad field.
  void validate() const;

  // "host:port", "unix:/path" or "rediss://host:port"; never credentials.
  std::string endpoint() const;
};

// Parses redis://[[user]:password@]host[:port][/db], rediss://... (TLS) and
// unix://[[user]:password@]/path/to/socket[?db=N]. User and password may be
// percent-encoded; an IPv6 host is written in brackets. Throws
// InvalidOptionsError (the message never contains the password).
ConnectionOptions parse_url(std::string_view url);

}  // namespace redis_session::redis
