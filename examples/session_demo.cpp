// The demo server: sessions over HTTP with Boost.Beast, on Redis or in
// memory. Every session route opens the session from the Cookie header
// through redis_session::beast::open and commits it (Set-Cookie when the id
// is new, rotated or destroyed) through redis_session::beast::commit; a store
// failure becomes a 503, never a crash and never a silent 200.
//
//   session_demo [--listen HOST:PORT] [--redis URL] [--store redis|memory]
//                [--threads N] [--namespace NS] [--idle-timeout SECONDS]
//                [--absolute-lifetime SECONDS] [--secure-cookies]
//
// Routes: GET / (a page with buttons), GET /plain (no session: the benchmark
// baseline), GET /count, GET /session, PUT and DELETE /session/{field},
// POST /login?user=NAME, POST /logout, GET /healthz, GET /metrics.
//
// Threading: one io_context run by --threads threads; each connection's
// handlers run on its own strand. Store calls block the thread that makes
// them, so the pool is sized to at least one connection per thread.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <redis_session/beast.hpp>
#include <redis_session/codec.hpp>
#include <redis_session/error.hpp>
#include <redis_session/memory_store.hpp>
#include <redis_session/redis/options.hpp>
#include <redis_session/redis_pool_store.hpp>
#include <redis_session/session_manager.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace rs = redis_session;
using tcp = net::ip::tcp;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

constexpr std::size_t max_body_bytes = 64 * 1024;
constexpr std::size_t max_header_bytes = 16 * 1024;
constexpr std::size_t max_user_bytes = 256;
constexpr int max_json_depth = 64;
// A keep-alive connection that sends nothing for this long is closed; so is
// one that takes this long to send a request or read a response.
constexpr std::chrono::seconds io_timeout{30};

// ------------------------------------------------------------------ options

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

constexpr const char* usage_text =
    "usage: session_demo [--listen HOST:PORT] [--redis URL] [--store redis|memory]\n"
    "                    [--threads N] [--namespace NS] [--idle-timeout SECONDS]\n"
    "                    [--absolute-lifetime SECONDS] [--secure-cookies]\n"
    "  --listen HOST:PORT          address to serve on (default 127.0.0.1:8080; port 0: any free port)\n"
    "  --redis URL                 redis://[[user]:password@]host[:port][/db], rediss://..., unix://...\n"
    "                              (default redis://127.0.0.1:6379/0)\n"
    "  --store redis|memory        where sessions live (default redis; memory needs no server)\n"
    "  --threads N                 worker threads (default: the number of cores)\n"
    "  --namespace NS              Redis key prefix, keys are NS:<id> (default session)\n"
    "  --idle-timeout SECONDS      a session unused this long dies (default 86400)\n"
    "  --absolute-lifetime SECONDS a session dies this long after creation however active (default: never)\n"
    "  --secure-cookies            mark the cookie Secure (serve behind HTTPS)\n";

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

// The URL with any credentials masked, for printing.
std::string redacted(const std::string& url) {
  const auto scheme = url.find("://");
  const auto at = url.rfind('@');
  if (scheme == std::string::npos || at == std::string::npos || at < scheme) return url;
  return url.substr(0, scheme + 3) + "***" + url.substr(at);
}

// ------------------------------------------------------------------ helpers

// Percent-decoding; in a query, '+' is a space. nullopt for a bad escape.
std::optional<std::string> percent_decode(std::string_view in, bool plus_is_space) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      const int hi = hex(in[i + 1]);
      const int lo = hex(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// The decoded value of `key` in a query string, if present.
std::optional<std::string> query_param(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const auto eq = pair.find('=');
    auto name = percent_decode(pair.substr(0, eq), true);
    if (name && *name == key) {
      return eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1), true);
    }
  }
  return std::nullopt;
}

// The fields as one JSON object, byte for byte what dumping a json object of
// them gives (both are ordered by name), written from each value's own text:
// copying every value into a json object first cost more than the load.
std::string fields_json(const rs::Fields& fields) {
  static const rs::Codec json_text = rs::json_codec();  // dump() with a fast path for plain strings
  std::string out = "{";
  for (const auto& [name, value] : fields) {
    if (out.size() > 1) out += ',';
    out += json_text.serialize(name);
    out += ':';
    out += json_text.serialize(value);
  }
  out += '}';
  return out;
}

std::string_view to_std(beast::string_view s) {
  return {s.data(), s.size()};
}

// ------------------------------------------------------------------ the page

constexpr std::string_view index_html = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>redis_session demo</title>
<link rel="icon" href="data:,">
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  h1 { font-size: 1.4rem; margin-bottom: .2rem; }
  p.lead { color: #666; margin-top: 0; }
  section { border: 1px solid #ddd; border-radius: 8px; padding: .8rem 1rem; margin: 1rem 0; }
  h2 { font-size: 1rem; margin: 0 0 .5rem; }
  button { font: inherit; padding: .3rem .9rem; border-radius: 6px; border: 1px solid #888; background: #f4f4f4; cursor: pointer; }
  button:hover { background: #e8e8e8; }
  button:disabled { color: #999; cursor: wait; }
  input { font: inherit; padding: .3rem .5rem; border-radius: 6px; border: 1px solid #888; }
  pre { background: #f7f7f7; padding: .6rem; border-radius: 6px; margin: 0; overflow-x: auto; }
  .value { font-weight: 600; font-variant-numeric: tabular-nums; margin-left: .6rem; }
  .row { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; }
  #status { color: #b00020; min-height: 1.5em; }
  .ok { color: #1b7e1b; } .bad { color: #b00020; }
</style>
</head>
<body>
<h1>redis_session demo</h1>
<p class="lead">A session kept in the store, named by an HttpOnly cookie.</p>
<section>
  <h2>Counter</h2>
  <div class="row"><button id="count-button">Count</button><span>count:</span><span id="count-value" class="value">-</span></div>
</section>
<section>
  <h2>Login</h2>
  <div class="row">
    <input id="user-input" placeholder="your name" maxlength="64" autocomplete="off">
    <button id="login-button">Log in</button>
    <button id="logout-button">Log out</button>
  </div>
  <p>user: <span id="user-value" class="value">(not logged in)</span></p>
</section>
<section>
  <h2>Session</h2>
  <pre id="session-json">loading...</pre>
  <p>session cookie visible to page script (document.cookie):
     <span id="cookie-visible" class="value">?</span></p>
</section>
<p id="status" role="status"></p>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
async function call(method, url) {
  const r = await fetch(url, { method, credentials: "same-origin", cache: "no-store" });
  const text = await r.text();
  if (!r.ok) throw new Error(method + " " + url + ": " + r.status + " " + text.trim());
  return text;
}
function showCookie() {
  const visible = document.cookie.split(";").some((c) => c.trim().startsWith("sid="));
  const el = $("cookie-visible");
  el.textContent = visible ? "yes (not HttpOnly!)" : "no (HttpOnly)";
  el.className = "value " + (visible ? "bad" : "ok");
}
async function refresh() {
  const s = JSON.parse(await call("GET", "/session"));
  $("session-json").textContent = JSON.stringify(s, null, 2);
  $("user-value").textContent = typeof s.user === "string" ? s.user : "(not logged in)";
  if (typeof s.count === "number") $("count-value").textContent = String(s.count);
  showCookie();
}
// One action at a time: the buttons are disabled until its refresh is done,
// so a slow response never overwrites a newer one.
const buttons = ["count-button", "login-button", "logout-button"].map($);
function action(f) {
  return async () => {
    $("status").textContent = "";
    buttons.forEach((b) => (b.disabled = true));
    try { await f(); } catch (e) { $("status").textContent = e.message; }
    buttons.forEach((b) => (b.disabled = false));
  };
}
$("count-button").onclick = action(async () => {
  $("count-value").textContent = (await call("GET", "/count")).trim();
  await refresh();
});
$("login-button").onclick = action(async () => {
  const name = $("user-input").value.trim();
  if (!name) throw new Error("enter a name first");
  await call("POST", "/login?user=" + encodeURIComponent(name));
  await refresh();
});
$("logout-button").onclick = action(async () => {
  await call("POST", "/logout");
  $("count-value").textContent = "-";
  await refresh();
});
action(refresh)();
</script>
</body>
</html>
)html";

// ------------------------------------------------------------------ the app

// The routes. Stateless apart from the store, so one App serves every thread.
class App {
 public:
  App(std::shared_ptr<rs::SessionStore> store, rs::RedisPoolStore* redis, rs::SessionManagerOptions options)
      : store_(store), redis_(redis), manager_(store, std::move(options)) {}

  void handle(const Request& req, Response& res) {
    const std::string_view target = to_std(req.target());
    const auto question = target.find('?');
    const std::string_view path = target.substr(0, question);
    const std::string_view query =
        question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
    const http::verb method = req.method();

    try {
      if (path == "/plain") {
        if (method != http::verb::get) return method_not_allowed(res, "GET");
        return text(res, http::status::ok, "ok");
      }
      if (path == "/count") {
        if (method != http::verb::get) return method_not_allowed(res, "GET");
        return count(req, res);
      }
      if (path == "/session") {
        if (method != http::verb::get) return method_not_allowed(res, "GET");
        return show_session(req, res);
      }
      if (path.substr(0, 9) == "/session/") {
        if (method != http::verb::put && method != http::verb::delete_) return method_not_allowed(res, "PUT, DELETE");
        return change_field(req, res, path.substr(9));
      }
      if (path == "/login") {
        if (method != http::verb::post) return method_not_allowed(res, "POST");
        return login(req, res, query);
      }
      if (path == "/logout") {
        if (method != http::verb::post) return method_not_allowed(res, "POST");
        return logout(req, res);
      }
      if (path == "/healthz") {
        if (method != http::verb::get) return method_not_allowed(res, "GET");
        return healthz(res);
      }
      if (path == "/metrics") {
        if (method != http::verb::get) return method_not_allowed(res, "GET");
        return metrics(res);
      }
      if (path == "/") {
        if (method != http::verb::get) return method_not_allowed(res, "GET");
        return page(res);
      }
      return text(res, http::status::not_found, "not found\n");
    } catch (const rs::ValueTooLargeError&) {
      fresh(res);
      text(res, http::status::payload_too_large, "value too large\n");
    } catch (const rs::Error& e) {
      store_errors_.fetch_add(1, std::memory_order_relaxed);
      fresh(res);
      rs::beast::store_unavailable(res, e);
    } catch (const std::exception&) {
      fresh(res);
      text(res, http::status::internal_server_error, "internal error\n");
    }
  }

 private:
  // --- session routes: open, act, commit; the first store failure throws.

  void count(const Request& req, Response& res) {
    rs::Session session = rs::beast::open(manager_, req);
    long long value = 0;
    try {
      value = session.increment("count");
    } catch (const rs::InvalidOptionsError&) {  // the field holds something else (a PUT put it there)
      return text(res, http::status::conflict, "field 'count' does not hold an integer\n");
    }
    text(res, http::status::ok, std::to_string(value));
    no_store(res);
    rs::beast::commit(manager_, session, res);
  }

  void show_session(const Request& req, Response& res) {
    rs::Session session = rs::beast::open(manager_, req);
    json(res, http::status::ok, fields_json(session.fields()));
    rs::beast::commit(manager_, session, res);
  }

  void change_field(const Request& req, Response& res, std::string_view encoded) {
    // Both checked before the session is opened: a bad request costs no
    // round trip and writes nothing.
    std::optional<std::string> field = percent_decode(encoded, false);
    if (!field || !valid_field(*field)) return text(res, http::status::bad_request, "invalid field name\n");
    std::optional<nlohmann::json> value;
    if (req.method() == http::verb::put) {
      // Nesting is bounded: serializing a value recurses once per level.
      bool too_deep = false;
      value = nlohmann::json::parse(
          req.body(),
          [&too_deep](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
            // `depth` counts the containers around the event: an array or
            // object starting at depth 64 is the 65th level. (Testing every
            // event with `> 64` let 65 levels of empty arrays through.)
            using Event = nlohmann::json::parse_event_t;
            const bool opens = event == Event::array_start || event == Event::object_start;
            too_deep = too_deep || (opens && depth >= max_json_depth);
            return true;
          },
          /*allow_exceptions=*/false);
      if (value->is_discarded()) return text(res, http::status::bad_request, "the body is not valid JSON\n");
      if (too_deep) return text(res, http::status::bad_request, "the body nests deeper than 64 levels\n");
    }
    rs::Session session = rs::beast::open(manager_, req);
    if (value) {
      session.set_json(*field, std::move(*value));
    } else {
      session.erase(*field);
    }
    res.result(http::status::no_content);
    no_store(res);
    rs::beast::commit(manager_, session, res);
  }

  void login(const Request& req, Response& res, std::string_view query) {
    std::optional<std::string> user = query_param(query, "user");
    if (!user || user->empty() || user->size() > max_user_bytes || !valid_text(*user)) {
      return text(res, http::status::bad_request, "login wants ?user=NAME (1 to 256 bytes of UTF-8 text)\n");
    }
    rs::Session session = rs::beast::open(manager_, req);
    session.regenerate();  // a new id at every privilege change: no session fixation
    session.set("user", *user);
    rs::beast::commit(manager_, session, res);
    json(res, http::status::ok, fields_json(session.fields()));
  }

  void logout(const Request& req, Response& res) {
    rs::Session session = rs::beast::open(manager_, req);
    session.destroy();
    rs::beast::commit(manager_, session, res);
    json(res, http::status::ok, "{}");
  }

  // --- no session

  void healthz(Response& res) {
    // exists() is one read-only round trip that neither creates nor slides anything.
    store_->exists("healthz-probe");
    text(res, http::status::ok, "ok");
  }

  void metrics(Response& res) {
    std::string out;
    out.reserve(3072);
    auto family = [&](std::string_view name, std::string_view type, std::string_view help) {
      out.append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ").append(name).append(" ");
      out.append(type).append("\n");
    };
    auto sample = [&](std::string_view name, std::string_view labels, const std::string& value) {
      out.append(name).append(labels).append(" ").append(value).append("\n");
    };
    auto single = [&](std::string_view name, std::string_view type, std::string_view help, std::uint64_t value) {
      family(name, type, help);
      sample(name, "", std::to_string(value));
    };
    single("redis_session_demo_store_errors_total", "counter", "Requests answered 503 because the store failed.",
           store_errors_.load(std::memory_order_relaxed));
    family("redis_session_demo_store_info", "gauge", "The kind of session store.");
    sample("redis_session_demo_store_info", redis_ == nullptr ? "{kind=\"memory\"}" : "{kind=\"redis\"}", "1");
    if (redis_ != nullptr) {
      const rs::PoolStats s = redis_->pool().stats();
      single("redis_session_store_round_trips_total", "counter", "Round trips to Redis.", redis_->round_trips());
      single("redis_session_pool_max_open", "gauge", "The pool's max_open.", redis_->pool().options().max_open);
      single("redis_session_pool_open", "gauge", "Connections open (idle + in use).", s.open);
      single("redis_session_pool_idle", "gauge", "Connections idle in the pool.", s.idle);
      single("redis_session_pool_in_use", "gauge", "Connections leased out.", s.in_use);
      single("redis_session_pool_creating", "gauge", "Connections being opened.", s.creating);
      single("redis_session_pool_waiting", "gauge", "Callers queued for a connection.", s.waiting);
      single("redis_session_pool_acquires_total", "counter", "Acquires that returned a connection.", s.acquires);
      single("redis_session_pool_timeouts_total", "counter", "Acquires that timed out.", s.timeouts);
      single("redis_session_pool_created_total", "counter", "Connections opened.", s.created);
      single("redis_session_pool_failed_creates_total", "counter", "Connection attempts that failed.",
             s.failed_creates);
      family("redis_session_pool_closed_total", "counter", "Connections closed, by reason.");
      const std::pair<const char*, std::uint64_t> closed[] = {
          {"idle", s.closed_idle},       {"lifetime", s.closed_lifetime}, {"broken", s.closed_broken},
          {"surplus", s.closed_surplus}, {"pool", s.closed_pool},         {"dropped", s.closed_dropped},
          {"fork", s.closed_fork}};
      for (const auto& [reason, n] : closed) {
        sample("redis_session_pool_closed_total", std::string("{reason=\"") + reason + "\"}", std::to_string(n));
      }
      family("redis_session_pool_wait_seconds_total", "counter", "Time acquires spent queued for a connection.");
      sample("redis_session_pool_wait_seconds_total", "", seconds(s.wait_total));
      family("redis_session_pool_wait_seconds_max", "gauge", "The longest time one acquire spent queued.");
      sample("redis_session_pool_wait_seconds_max", "", seconds(s.wait_max));
    }
    text(res, http::status::ok, std::move(out), "text/plain; version=0.0.4; charset=utf-8");
  }

  static std::string seconds(std::chrono::nanoseconds d) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", std::chrono::duration<double>(d).count());
    return buf;
  }

  void page(Response& res) {
    text(res, http::status::ok, std::string(index_html), "text/html; charset=utf-8");
    // Inline script and style only; nothing is loaded from anywhere else.
    res.set("Content-Security-Policy",
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
            "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    res.set("X-Content-Type-Options", "nosniff");
  }

  // --- responses

  static void text(Response& res, http::status status, std::string body,
                   const char* type = "text/plain; charset=utf-8") {
    res.result(status);
    res.set(http::field::content_type, type);
    res.body() = std::move(body);
  }
  static void json(Response& res, http::status status, std::string body) {
    text(res, status, std::move(body), "application/json");
    no_store(res);
  }
  // Session data and Set-Cookie must never sit in a shared cache.
  static void no_store(Response& res) { res.set(http::field::cache_control, "no-store"); }
  static void method_not_allowed(Response& res, const char* allow) {
    text(res, http::status::method_not_allowed, "method not allowed\n");
    res.set(http::field::allow, allow);
  }
  static void fresh(Response& res) {
    // A failure may come after headers were set: answer with none of them.
    res.base().clear();
    res.body().clear();
  }

  static bool valid_field(const std::string& field) {
    // The store's rule (1 to 1024 bytes, no leading NUL), checked here so a
    // bad name is the client's 400, not a store failure's 503.
    return !field.empty() && field.size() <= 1024 && field.front() != '\0';
  }
  // UTF-8 without control characters: it goes into JSON and on screen.
  static bool valid_text(const std::string& s) {
    for (unsigned char c : s) {
      if (c < 0x20 || c == 0x7f) return false;
    }
    try {
      (void)nlohmann::json(s).dump();  // throws on malformed UTF-8
      return true;
    } catch (const nlohmann::json::exception&) {
      return false;
    }
  }

 private:
  std::shared_ptr<rs::SessionStore> store_;
  rs::RedisPoolStore* redis_;  // null for the memory store
  rs::SessionManager manager_;
  std::atomic<std::uint64_t> store_errors_{0};
};

// ------------------------------------------------------------------ HTTP

// One client connection: read a request, answer it, repeat while keep-alive.
// Every handler of a connection runs on its strand.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket&& socket, App& app) : stream_(std::move(socket)), app_(app) {}

  void start() {
    net::dispatch(stream_.get_executor(), beast::bind_front_handler(&Connection::read, shared_from_this()));
  }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(max_header_bytes);
    parser_->body_limit(max_body_bytes);
    stream_.expires_after(io_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Connection::on_header, shared_from_this()));
  }

  void on_header(beast::error_code ec, std::size_t) {
    if (ec) return fail(ec);
    // A Content-Length over body_limit already failed the header read
    // (body_limit: 413 in fail()), before any of the body was read.
    if (parser_->is_done()) return respond();
    const Request& req = parser_->get();
    if (beast::iequals(req[http::field::expect], "100-continue")) {
      // curl waits for this before sending a body of more than 1 KiB.
      continue_.emplace(http::status::continue_, req.version());
      return http::async_write(stream_, *continue_,
                               beast::bind_front_handler(&Connection::on_continue, shared_from_this()));
    }
    read_body();
  }

  void on_continue(beast::error_code ec, std::size_t) {
    if (ec) return stream_.close();
    read_body();
  }

  void read_body() {
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Connection::on_body, shared_from_this()));
  }

  void on_body(beast::error_code ec, std::size_t) {
    if (ec) return fail(ec);
    respond();
  }

  void respond() {
    const Request& req = parser_->get();
    res_ = {};
    res_.version(req.version());
    app_.handle(req, res_);
    res_.keep_alive(req.keep_alive());
    res_.prepare_payload();
    write();
  }

  // The request cannot be read: answer it and close.
  void reject(http::status status, const char* why) {
    res_ = {};
    res_.result(status);
    res_.set(http::field::content_type, "text/plain; charset=utf-8");
    res_.body() = why;
    res_.keep_alive(false);
    res_.prepare_payload();
    write();
  }

  void write() {
    http::async_write(stream_, res_, beast::bind_front_handler(&Connection::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t) {
    if (ec) return stream_.close();
    if (!res_.keep_alive()) return close();
    read();
  }

  void fail(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      return reject(http::status::payload_too_large, "request body too large (at most 64 KiB)\n");
    }
    if (ec == http::error::header_limit) {
      return reject(http::status::request_header_fields_too_large, "request header too large\n");
    }
    const bool parse_error = ec.category() == beast::error_code(http::error::bad_target).category() &&
                             ec != http::error::end_of_stream && ec != http::error::partial_message;
    if (parse_error) return reject(http::status::bad_request, "malformed request\n");
    stream_.close();  // end of stream, timeout, reset: nobody to answer
  }

  // Closes after a response. A client may still be sending (a body we
  // refused, say): closing with unread bytes would reset the connection
  // and could destroy our response before the client reads it, so stop
  // sending, then read and discard until the client closes too (bounded).
  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(std::chrono::seconds(2));
    drain(0);
  }

  void drain(std::size_t drained) {
    if (drained > 1024 * 1024) return stream_.close();
    buffer_.clear();
    stream_.async_read_some(buffer_.prepare(16 * 1024),
                            [self = shared_from_this(), drained](beast::error_code ec, std::size_t n) {
                              if (ec) return self->stream_.close();
                              self->drain(drained + n);
                            });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::empty_body>> continue_;
  Response res_;
  App& app_;
};

class Listener {
 public:
  Listener(net::io_context& ioc, tcp::acceptor& acceptor, App& app) : ioc_(ioc), acceptor_(acceptor), app_(app) {}

  void accept() {
    acceptor_.async_accept(net::make_strand(ioc_), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted) return;
      if (!ec) {
        socket.set_option(tcp::no_delay(true), ec);
        std::make_shared<Connection>(std::move(socket), app_)->start();
      } else if (ec == net::error::no_descriptors || ec == net::error::no_buffer_space) {
        // Out of file descriptors: pause rather than spin on the error.
        timer_.emplace(ioc_, std::chrono::milliseconds(50));
        return timer_->async_wait([this](beast::error_code) { accept(); });
      }
      accept();
    });
  }

 private:
  net::io_context& ioc_;
  tcp::acceptor& acceptor_;
  App& app_;
  std::optional<net::steady_timer> timer_;
};

// ------------------------------------------------------------------ main

int run(const Config& config) {
  rs::ExpiryOptions expiry;
  if (config.idle_timeout) expiry.idle_timeout = *config.idle_timeout;
  if (config.absolute_lifetime) expiry.absolute_lifetime = *config.absolute_lifetime;

  std::shared_ptr<rs::SessionStore> store;
  rs::RedisPoolStore* redis = nullptr;
  std::string store_description;
  try {
    if (config.memory_store) {
      rs::MemoryStoreOptions options;
      options.expiry = expiry;
      store = std::make_shared<rs::MemoryStore>(options);
      store_description = "memory";
    } else {
      rs::RedisPoolStoreOptions options;
      options.url = config.redis_url;
      options.key_namespace = config.key_namespace;
      options.expiry = expiry;
      // Each worker thread blocks on at most one store call at a time; keep
      // that many connections warm so a busy server never closes and reopens.
      options.pool.max_open = std::max<std::size_t>(8, config.threads);
      options.pool.max_idle = options.pool.max_open;
      auto redis_store = std::make_shared<rs::RedisPoolStore>(std::move(options));
      redis = redis_store.get();
      store = std::move(redis_store);
      store_description = "redis " + redacted(config.redis_url) + ", namespace " + config.key_namespace;
    }
  } catch (const rs::InvalidOptionsError& e) {
    std::cerr << "session_demo: " << e.what() << "\n" << usage_text;
    return 2;
  }

  rs::SessionManagerOptions manager_options;
  manager_options.cookie.secure = config.secure_cookies;
  App app(store, redis, manager_options);

  net::io_context ioc(static_cast<int>(config.threads));
  tcp::acceptor acceptor(ioc);
  tcp::endpoint endpoint;
  try {
    endpoint = tcp::endpoint(net::ip::make_address(config.listen_host), config.listen_port);
  } catch (const std::exception&) {
    std::cerr << "session_demo: --listen wants a numeric IP address, got '" << config.listen_host << "'\n"
              << usage_text;
    return 2;
  }
  try {
    acceptor.open(endpoint.protocol());
    acceptor.set_option(net::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(net::socket_base::max_listen_connections);
  } catch (const boost::system::system_error& e) {
    std::cerr << "session_demo: cannot listen on " << endpoint << ": " << e.code().message() << "\n";
    return 1;
  }
  const tcp::endpoint bound = acceptor.local_endpoint();
  const std::string host =
      bound.address().is_v6() ? "[" + bound.address().to_string() + "]" : bound.address().to_string();
  const std::string url = "http://" + host + ":" + std::to_string(bound.port());

  Listener listener(ioc, acceptor, app);
  listener.accept();
  net::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](beast::error_code, int) {
    // Stop taking connections, then stop the workers after the requests in
    // progress (a store call in flight finishes first).
    beast::error_code ignored;
    acceptor.close(ignored);
    ioc.stop();
  });

  std::cout << "session_demo listening on " << url << " (store: " << store_description << ", " << config.threads
            << " threads)\n"
            << "  open " << url << "/ in a browser, or try:\n"
            << "  curl -s -c /tmp/jar -b /tmp/jar " << url << "/count\n"
            << "  curl -s -c /tmp/jar -b /tmp/jar -X PUT -d '\"blue\"' " << url << "/session/color\n"
            << "  curl -s -c /tmp/jar -b /tmp/jar " << url << "/session\n"
            << "  curl -s -c /tmp/jar -b /tmp/jar -X POST '" << url << "/login?user=ann'\n"
            << "  curl -s " << url << "/metrics\n"
            << "Ctrl-C stops it." << std::endl;

  std::vector<std::thread> workers;
  workers.reserve(config.threads - 1);
  for (unsigned i = 1; i < config.threads; ++i) workers.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : workers) t.join();
  std::cout << "session_demo stopped" << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--help" || std::string_view(argv[i]) == "-h") {
      std::cout << usage_text;
      return 0;
    }
  }
  Config config;
  try {
    config = parse_args(argc, argv);
  } catch (const UsageError& e) {
    std::cerr << "session_demo: " << e.message << "\n" << usage_text;
    return 2;
  }
  try {
    return run(config);
  } catch (const std::exception& e) {
    std::cerr << "session_demo: " << e.what() << "\n";
    return 1;
  }
}
