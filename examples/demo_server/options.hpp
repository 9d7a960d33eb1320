#pragma once
// The demo server's command line: what it serves, from which store, with
// which expiry. Bad arguments are a UsageError (exit status 2 with the usage).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>

namespace demo {

struct Config {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 8080;
  std::string redis_url = "redis://127.0.0.1:6379/0";
  bool memory_store = false;
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::string key_namespace = "session";
  std::optional<std::chrono::seconds> idle_timeout;
  std::optional<std::chrono::seconds> absolute_lifetime;
  bool secure_cookies = false;
};

struct UsageError {
  std::string message;
};

inline constexpr const char* usage_text =
    "usage: demo_server [--listen HOST:PORT] [--redis URL] [--store redis|memory]\n"
    "                   [--threads N] [--namespace NS] [--idle-timeout SECONDS]\n"
    "                   [--absolute-lifetime SECONDS] [--secure-cookies]\n"
    "  --listen HOST:PORT          address to serve on (default 127.0.0.1:8080; port 0: any free port)\n"
    "  --redis URL                 redis://[[user]:password@]host[:port][/db], rediss://..., unix://...\n"
    "                              (default redis://127.0.0.1:6379/0)\n"
    "  --store redis|memory        where sessions live (default redis; memory needs no server)\n"
    "  --threads N                 worker threads (default: the number of cores)\n"
    "  --namespace NS              Redis key prefix, keys are NS:<id> (default session)\n"
    "  --idle-timeout SECONDS      a session unused this long dies (default 86400)\n"
    "  --absolute-lifetime SECONDS a session dies this long after creation however active (default: never)\n"
    "  --secure-cookies            mark the cookie Secure (serve behind HTTPS)\n";

Config parse_args(int argc, char** argv);  // throws UsageError

// The URL with any credentials masked, for printing.
std::string redacted(const std::string& url);

}  // namespace demo
