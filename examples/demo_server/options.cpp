#include "options.hpp"

#include <charconv>
#include <string_view>
#include <system_error>

namespace demo {
namespace {

unsigned long long parse_number(std::string_view option, std::string_view text, unsigned long long max) {
  unsigned long long value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < 1 || value > max) {
    throw UsageError{std::string(option) + " wants a whole number from 1 to " + std::to_string(max) + ", got '" +
                     std::string(text) + "'"};
  }
  return value;
}

void parse_listen(std::string_view text, Config& config) {
  // HOST:PORT, with an IPv6 host in brackets: [::1]:8080.
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) throw UsageError{"--listen wants HOST:PORT"};
  std::string_view host = text.substr(0, colon);
  std::string_view port = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || value > 65535) {
    throw UsageError{"--listen: bad port '" + std::string(port) + "'"};
  }
  config.listen_host = std::string(host);
  config.listen_port = static_cast<std::uint16_t>(value);
}

}  // namespace

Config parse_args(int argc, char** argv) {
  Config config;
  constexpr unsigned long long year_seconds = 366ull * 24 * 3600;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string_view name = arg;
    std::optional<std::string_view> inline_value;  // --name=value
    if (auto eq = arg.find('='); arg.substr(0, 2) == "--" && eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      inline_value = arg.substr(eq + 1);
    }
    auto value = [&]() -> std::string_view {
      if (inline_value) return *inline_value;
      if (i + 1 >= argc) throw UsageError{std::string(name) + " needs a value"};
      return argv[++i];
    };
    if (name == "--listen") {
      parse_listen(value(), config);
    } else if (name == "--redis") {
      config.redis_url = std::string(value());
    } else if (name == "--store") {
      std::string_view kind = value();
      if (kind != "redis" && kind != "memory") throw UsageError{"--store is redis or memory"};
      config.memory_store = kind == "memory";
    } else if (name == "--threads") {
      config.threads = static_cast<unsigned>(parse_number(name, value(), 1024));
    } else if (name == "--namespace") {
      config.key_namespace = std::string(value());
    } else if (name == "--idle-timeout") {
      config.idle_timeout = std::chrono::seconds(parse_number(name, value(), year_seconds));
    } else if (name == "--absolute-lifetime") {
      config.absolute_lifetime = std::chrono::seconds(parse_number(name, value(), year_seconds));
    } else if (name == "--secure-cookies" && !inline_value) {
      config.secure_cookies = true;
    } else {
      throw UsageError{"unknown argument '" + std::string(arg) + "'"};
    }
  }
  return config;
}

std::string redacted(const std::string& url) {
  const auto scheme = url.find("://");
  const auto at = url.rfind('@');
  if (scheme == std::string::npos || at == std::string::npos || at < scheme) return url;
  return url.substr(0, scheme + 3) + "***" + url.substr(at);
}

}  // namespace demo
