#include "app.hpp"

#include <redis_session/adapters/beast.hpp>
#include <redis_session/codec.hpp>
#include <redis_session/detail/percent.hpp>
#include <redis_session/error.hpp>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "page.hpp"

namespace demo {
namespace {

constexpr std::size_t max_user_bytes = 256;
constexpr int max_json_depth = 64;

// The decoded value of `key` in a query string, if present.
std::optional<std::string> query_param(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const auto eq = pair.find('=');
    auto name = rs::detail::percent_decode(pair.substr(0, eq), true);
    if (name && *name == key) {
      return eq == std::string_view::npos ? std::string() : rs::detail::percent_decode(pair.substr(eq + 1), true);
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

std::string_view to_std(boost::beast::string_view s) {
  return {s.data(), s.size()};
}

std::string seconds(std::chrono::nanoseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", std::chrono::duration<double>(d).count());
  return buf;
}

void text(Response& res, http::status status, std::string body, const char* type = "text/plain; charset=utf-8") {
  res.result(status);
  res.set(http::field::content_type, type);
  res.body() = std::move(body);
}
// Session data and Set-Cookie must never sit in a shared cache.
void no_store(Response& res) {
  res.set(http::field::cache_control, "no-store");
}
void json(Response& res, http::status status, std::string body) {
  text(res, status, std::move(body), "application/json");
  no_store(res);
}
void method_not_allowed(Response& res, const char* allow) {
  text(res, http::status::method_not_allowed, "method not allowed\n");
  res.set(http::field::allow, allow);
}
void fresh(Response& res) {
  // A failure may come after headers were set: answer with none of them.
  res.base().clear();
  res.body().clear();
}

bool valid_field(const std::string& field) {
  // The store's rule (1 to 1024 bytes, no leading NUL), checked here so a
  // bad name is the client's 400, not a store failure's 503.
  return !field.empty() && field.size() <= 1024 && field.front() != '\0';
}
// UTF-8 without control characters: it goes into JSON and on screen.
bool valid_text(const std::string& s) {
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

}  // namespace

void App::handle(const Request& req, Response& res) {
  const std::string_view target = to_std(req.target());
  const auto question = target.find('?');
  const std::string_view path = target.substr(0, question);
  const std::string_view query = question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
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
  } catch (const rs::Error& e) {
    // The request's own input (400, 409, 413) is not a store failure (503).
    if (rs::adapters::beast::http_status(e) == 503) store_errors_.fetch_add(1, std::memory_order_relaxed);
    fresh(res);
    rs::adapters::beast::fail(res, e);
  } catch (const std::exception&) {
    fresh(res);
    text(res, http::status::internal_server_error, "internal error\n");
  }
}

// --- session routes: open, act, commit; the first store failure throws.

void App::count(const Request& req, Response& res) {
  rs::Session session = rs::adapters::beast::open(manager_, req);
  // A field holding something else (a PUT put it there) throws
  // SessionStateError: handle() answers 409.
  const long long value = session.increment("count");
  text(res, http::status::ok, std::to_string(value));
  no_store(res);
  rs::adapters::beast::commit(manager_, session, res);
}

void App::show_session(const Request& req, Response& res) {
  rs::Session session = rs::adapters::beast::open(manager_, req);
  json(res, http::status::ok, fields_json(session.fields()));
  rs::adapters::beast::commit(manager_, session, res);
}

void App::change_field(const Request& req, Response& res, std::string_view encoded) {
  // Both checked before the session is opened: a bad request costs no
  // round trip and writes nothing.
  std::optional<std::string> field = rs::detail::percent_decode(encoded);
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
  rs::Session session = rs::adapters::beast::open(manager_, req);
  if (value) {
    session.set_json(*field, std::move(*value));
  } else {
    session.erase(*field);
  }
  res.result(http::status::no_content);
  no_store(res);
  rs::adapters::beast::commit(manager_, session, res);
}

void App::login(const Request& req, Response& res, std::string_view query) {
  std::optional<std::string> user = query_param(query, "user");
  if (!user || user->empty() || user->size() > max_user_bytes || !valid_text(*user)) {
    return text(res, http::status::bad_request, "login wants ?user=NAME (1 to 256 bytes of UTF-8 text)\n");
  }
  rs::Session session = rs::adapters::beast::open(manager_, req);
  session.regenerate();  // a new id at every privilege change: no session fixation
  session.set("user", *user);
  rs::adapters::beast::commit(manager_, session, res);
  json(res, http::status::ok, fields_json(session.fields()));
}

void App::logout(const Request& req, Response& res) {
  rs::Session session = rs::adapters::beast::open(manager_, req);
  session.destroy();
  rs::adapters::beast::commit(manager_, session, res);
  json(res, http::status::ok, "{}");
}

void App::healthz(Response& res) {
  // exists() is one read-only round trip that neither creates nor slides anything.
  store_->exists("healthz-probe");
  text(res, http::status::ok, "ok");
}

void App::metrics(Response& res) {
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
    single("redis_session_pool_failed_creates_total", "counter", "Connection attempts that failed.", s.failed_creates);
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

void App::page(Response& res) {
  text(res, http::status::ok, std::string(index_html), "text/html; charset=utf-8");
  // Inline script and style only; nothing is loaded from anywhere else.
  res.set("Content-Security-Policy",
          "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
          "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
  res.set("X-Content-Type-Options", "nosniff");
}

}  // namespace demo
