#include "redis_session/redis_pool_store.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <thread>

#include "redis_session/detail/lua_scripts.hpp"
#include "redis_session/detail/router.hpp"
#include "redis_session/error.hpp"
#include "redis_session/session_id.hpp"

namespace redis_session {

using redis::Connection;
using redis::Reply;
using redis::Request;

namespace {

constexpr std::string_view metadata_prefix("\0", 1);
constexpr std::string_view moving_field("\0m", 2);  // see export_script()

// The key for messages: the namespace and only the start of the id, which is
// a bearer secret for as long as the session lives.
std::string redacted(std::string_view key) {
  auto colon = key.rfind(':');
  std::size_t keep = colon == std::string_view::npos ? 0 : colon + 1 + std::min<std::size_t>(4, key.size() - colon - 1);
  return std::string(key.substr(0, keep)) + "...";
}

// "-12" or "7": exactly the text HINCRBY reads and writes.
bool parse_integer(std::string_view s, long long& out) {
  if (s.empty() || s.size() > 20) return false;
  std::size_t digits = s[0] == '-' ? 1 : 0;
  if (digits == s.size()) return false;
  if (s[digits] == '0' && s.size() > digits + 1) return false;  // no leading zeros
  if (s == "-0") return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

// A Lua script's string result arrives as a bulk string.
bool is_word(const Reply& r, std::string_view word) {
  return (r.type == Reply::Type::string || r.type == Reply::Type::status) && r.str == word;
}

[[noreturn]] void unexpected_reply(const char* op, const Reply& r) {
  throw ProtocolError(std::string("unexpected reply to ") + op + ": a " + redis::to_string(r.type));
}

// Translates a script's error reply into the contract's error types.
[[noreturn]] void throw_reply_error(const Reply& r, std::string_view key, std::string_view field = {}) {
  if (r.str.rfind("RSMETA", 0) == 0) {
    throw DecodeError("session " + redacted(key) + " has no creation time (not written by redis_session?)");
  }
  if (r.str.find("not an integer") != std::string::npos) {
    throw InvalidOptionsError("cannot increment field '" + std::string(field) + "' of session " + redacted(key) +
                              ": it does not hold an integer");
  }
  if (r.str.find("overflow") != std::string::npos) {
    throw InvalidOptionsError("cannot increment field '" + std::string(field) + "' of session " + redacted(key) +
                              ": the result would overflow");
  }
  throw ServerError(r.str, "session " + redacted(key));
}

std::string glob_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\' || c == '^' || c == '-') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

// The first word of an error reply: "MOVED", "ASK", "TRYAGAIN"...
std::string_view error_prefix(const Reply& r) {
  std::string_view text(r.str);
  return text.substr(0, text.find(' '));
}

// Where Redis moves the topology under a call: asking again later may work.
bool is_transient(std::string_view prefix) {
  return prefix == "TRYAGAIN" || prefix == "CLUSTERDOWN" || prefix == "READONLY" || prefix == "MASTERDOWN" ||
         prefix == "LOADING" || prefix == "NOREPLICAS";
}

// A url of redis+cluster:// or redis+sentinel:// fills options.cluster / options.sentinel.
void apply_topology_url(RedisPoolStoreOptions& o) {
  if (o.url.empty() || !redis::is_topology_url(o.url)) return;
  if (o.cluster || o.sentinel) {
    throw InvalidOptionsError("invalid RedisPoolStore options: a cluster or sentinel url and the cluster/sentinel "
                              "options are exclusive");
  }
  redis::TopologyUrl t = redis::parse_topology_url(o.url);
  o.connection.username = t.connection.username;
  o.connection.password = t.connection.password;
  o.connection.db = t.connection.db;
  o.connection.tls.enabled = t.connection.tls.enabled;
  o.cluster = std::move(t.cluster);
  o.sentinel = std::move(t.sentinel);
  o.url.clear();
}

redis::ConnectionOptions connection_options(const RedisPoolStoreOptions& o) {
  redis::ConnectionOptions c = o.connection;
  if (o.cluster || o.sentinel) c.unix_path.clear();  // every node's address comes from the topology
  if (!o.url.empty()) {
    redis::ConnectionOptions u = redis::parse_url(o.url);
    c.host = u.host;
    c.port = u.port;
    c.unix_path = u.unix_path;
    c.username = u.username;
    c.password = u.password;
    c.db = u.db;
    c.tls.enabled = u.tls.enabled;
  }
  c.validate();
  return c;
}

void validate(const RedisPoolStoreOptions& o) {
  auto bad = [](const std::string& why) { throw InvalidOptionsError("invalid RedisPoolStore options: " + why); };
  if (o.key_namespace.empty() || o.key_namespace.size() > 256) bad("key_namespace must be 1 to 256 bytes");
  for (char c : o.key_namespace) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) bad("key_namespace has whitespace or control characters");
  }
  o.expiry.validate();
  if (!o.codec.serialize || !o.codec.deserialize) bad("codec needs both serialize and deserialize");
  for (const Codec& c : o.fallback_codecs) {
    if (!c.deserialize) bad("fallback codec '" + c.name + "' has no deserialize");
  }
  if (o.max_value_bytes == 0) bad("max_value_bytes must be positive");
  if (o.cluster && o.sentinel) bad("cluster and sentinel are exclusive");
  if ((o.cluster || o.sentinel) && o.shared_pool) bad("shared_pool is for one server, not a cluster or sentinels");
  if ((o.cluster || o.sentinel) && !o.url.empty()) bad("url is for one server; cluster and sentinel have their own");
  if (o.cluster) {
    o.cluster->validate();
    if (o.connection.db != 0) bad("Redis Cluster has only db 0");
  }
  if (o.sentinel) o.sentinel->validate();
}

}  // namespace

// ---------------------------------------------------------------- store

RedisPoolStore::RedisPoolStore(RedisPoolStoreOptions options) : options_(std::move(options)) {
  apply_topology_url(options_);
  validate(options_);
  router_ = detail::make_router(
      {connection_options(options_), options_.cluster, options_.sentinel, options_.pool, options_.shared_pool});
  if (!router_->is_cluster) single_pool_ = router_->primaries().front()->pool;
  idle_ms_ = std::to_string(options_.expiry.idle_timeout.count());
  absolute_ms_ = options_.expiry.absolute_lifetime ? std::to_string(options_.expiry.absolute_lifetime->count()) : "0";
}

RedisPoolStore::~RedisPoolStore() = default;

ConnectionPool& RedisPoolStore::pool() { return *shared_pool(); }

const std::shared_ptr<ConnectionPool>& RedisPoolStore::shared_pool() const {
  if (!single_pool_) throw InvalidOptionsError("a cluster store has one pool per primary: use pools()");
  return single_pool_;
}

std::vector<std::shared_ptr<ConnectionPool>> RedisPoolStore::pools() {
  std::vector<std::shared_ptr<ConnectionPool>> out;
  for (const auto& node : router_->primaries()) out.push_back(node->pool);
  return out;
}

std::string RedisPoolStore::key(std::string_view id) const {
  detail::check_id(id);
  std::string k;
  k.reserve(options_.key_namespace.size() + 1 + id.size());
  k.append(options_.key_namespace).push_back(':');
  k.append(id);
  return k;
}

// A leased connection, and whether each command on it must follow an ASKING
// (the call was redirected by ASK to a node importing the slot).
struct RedisPoolStore::Link {
  Connection& connection;
  bool asking;

  Request& push(Request& request, std::initializer_list<std::string_view> argv) const {
    if (asking) request.push({"ASKING"});
    return request.push(argv);
  }
  Request& push(Request& request, const std::vector<std::string_view>& argv) const {
    if (asking) request.push({"ASKING"});
    return request.push(argv);
  }
};

// Where a call goes: the node of a key's slot, or one given node (SCAN).
struct RedisPoolStore::Route {
  std::uint16_t slot = 0;
  std::shared_ptr<detail::Node> node;

  static Route of(std::string_view key) { return {redis::key_slot(key), nullptr}; }
};

// One try on one node. A connection that had worked before and fails before
// any byte of its reply was most likely closed by the server while it sat
// idle (restart, failover, timeout): an idempotent call gets one fresh
// connection, after the pool's other idle ones, as stale, are dropped.
// `sent` says whether anything may have reached the server.
template <class F>
Reply RedisPoolStore::attempt(detail::Node& node, bool idempotent, bool asking, bool& sent, F& f) {
  sent = false;
  auto lease = node.pool->acquire();
  bool reused = lease->round_trips() > 0;
  try {
    sent = true;
    Link link{*lease, asking};
    return f(link);
  } catch (const IoError&) {
    if (!idempotent || !reused || !lease->failed_before_reply()) throw;
  }
  lease.reset();
  node.pool->drop_idle();
  sent = false;
  auto fresh = node.pool->acquire();
  sent = true;
  Link link{*fresh, asking};
  return f(link);
}

// A call to the node that serves `route`, following the topology as it moves
// (see the header). Error replies that are not about the topology are
// returned for the caller to interpret.
template <class F>
Reply RedisPoolStore::run(const Route& route, bool idempotent, F&& f) {
  detail::Router& router = *router_;
  const bool routed = !route.node;
  std::shared_ptr<detail::Node> node = route.node;
  bool asking = false;
  int redirects = 0;
  const auto deadline = std::chrono::steady_clock::now() + router.retry_window;
  auto backoff = router.retry_backoff;
  // Sleeps before another try; false when that would pass the retry window.
  auto pause = [&] {
    if (router.retry_window.count() == 0 || std::chrono::steady_clock::now() + backoff > deadline) return false;
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, router.retry_backoff * 8);
    return true;
  };
  for (;;) {
    Reply reply;
    bool sent = false;
    try {
      if (!node) node = router.node_for(route.slot);
      reply = attempt(*node, idempotent, asking, sent, f);
    } catch (const ConnectionError& e) {
      // Unreachable, reset or timed out: after a failover another node may
      // answer. A call that may have been applied is repeated only when
      // repeating it changes nothing.
      if (e.errc() == Errc::auth_failed || (sent && !idempotent) || !pause()) throw;
      router.refresh();
      if (routed) node.reset();
      asking = false;
      continue;
    }
    if (!reply.is_error()) return reply;
    std::string_view prefix = error_prefix(reply);
    if (router.is_cluster && routed && (prefix == "MOVED" || prefix == "ASK")) {
      // Not executed: safe to send again, wherever it now belongs.
      if (++redirects > router.max_redirects) return reply;
      std::string_view target(reply.str);
      target = target.substr(target.rfind(' ') + 1);
      asking = prefix == "ASK";
      node = router.redirected(route.slot, target, !asking);
      continue;
    }
    if (is_transient(prefix) && pause()) {
      // Not executed either (a script's writes are refused before it runs).
      if (prefix != "TRYAGAIN") router.refresh();
      if (routed) node.reset();
      asking = false;
      continue;
    }
    return reply;
  }
}

// One round trip; callers need only its first reply (a load's HGETALL, the
// script's result, the single command's answer).
Reply RedisPoolStore::first_reply(Link& link, const Request& request) {
  round_trips_.fetch_add(1, std::memory_order_relaxed);
  std::vector<Reply> replies;
  link.connection.execute(request, replies);
  return std::move(replies[link.asking ? 1 : 0]);
}

Reply RedisPoolStore::eval(Link& link, const detail::LuaScript& script, std::vector<std::string_view>& args) {
  // args: [command placeholder, script placeholder, numkeys, keys..., argv...]
  args[0] = "EVALSHA";
  args[1] = script.sha;
  Request request;
  link.push(request, args);
  Reply reply = first_reply(link, request);
  if (reply.is_error() && reply.str.rfind("NOSCRIPT", 0) == 0) {
    // The script cache is empty after a restart or failover; EVAL reloads it.
    args[0] = "EVAL";
    args[1] = script.source;
    request.clear();
    link.push(request, args);
    reply = first_reply(link, request);
  }
  return reply;
}

std::string RedisPoolStore::encode(std::string_view field, const nlohmann::json& value) const {
  std::string bytes;
  if (value.is_number_integer() && !(value.is_number_unsigned() && value.get<std::uint64_t>() > INT64_MAX)) {
    bytes = std::to_string(value.get<long long>());
  } else {
    // A codec may throw anything (nlohmann refuses invalid UTF-8, a user
    // codec its own errors): the caller gets a typed error naming the field,
    // and nothing is written. Its message is not passed on: it may quote data.
    try {
      bytes = options_.codec.serialize(value);
    } catch (const std::exception&) {
      throw InvalidOptionsError("cannot encode session field '" + std::string(field) + "' with codec " +
                                options_.codec.name);
    }
  }
  if (bytes.size() > options_.max_value_bytes) {
    throw ValueTooLargeError("value of session field '" + std::string(field) + "' is " + std::to_string(bytes.size()) +
                             " bytes, over max_value_bytes (" + std::to_string(options_.max_value_bytes) + ")");
  }
  return bytes;
}

Fields RedisPoolStore::decode(std::string_view key, std::vector<Reply>& flat) const {
  Fields fields;
  bool has_metadata = false;
  for (std::size_t i = 0; i + 1 < flat.size(); i += 2) {
    std::string& name = flat[i].str;
    const std::string& bytes = flat[i + 1].str;
    if (name.rfind(metadata_prefix, 0) == 0) {
      has_metadata = true;
      continue;
    }
    long long integer = 0;
    if (parse_integer(bytes, integer)) {
      fields.emplace_hint(fields.end(), std::move(name), integer);
      continue;
    }
    nlohmann::json value;
    bool decoded = false;
    try {
      value = options_.codec.deserialize(bytes);
      decoded = true;
    } catch (const std::exception&) {
      for (const Codec& fallback : options_.fallback_codecs) {
        try {
          value = fallback.deserialize(bytes);
          decoded = true;
          break;
        } catch (const std::exception&) {
          // Try the next one; all failing is reported below.
        }
      }
    }
    if (!decoded) {
      std::string tried = options_.codec.name;
      for (const Codec& fallback : options_.fallback_codecs) tried += ", " + fallback.name;
      throw DecodeError("cannot decode field '" + name + "' of session " + redacted(key) + " (tried: " + tried + ")");
    }
    // HGETALL order is arbitrary, so the hint is only right sometimes; it is never wrong.
    fields.emplace_hint(fields.end(), std::move(name), std::move(value));
  }
  if (!flat.empty() && !has_metadata) {
    throw DecodeError("session " + redacted(key) + " has no creation time (not written by redis_session?)");
  }
  return fields;
}

std::optional<Fields> RedisPoolStore::load(std::string_view id) {
  const std::string k = key(id);
  Reply hash = run(Route::of(k), true, [&](Link& link) {
    if (options_.expiry.absolute_lifetime) {
      std::vector<std::string_view> args = {"", "", "1", k, idle_ms_, absolute_ms_};
      return eval(link, detail::load_script(), args);
    }
    Request request;
    link.push(request, {"HGETALL", k});
    link.push(request, {"PEXPIRE", k, idle_ms_});
    return first_reply(link, request);
  });
  if (hash.is_error()) throw_reply_error(hash, k);
  if (!hash.is_array()) unexpected_reply("load", hash);
  if (hash.elements.empty()) return std::nullopt;
  return decode(k, hash.elements);
}

SaveResult RedisPoolStore::save(std::string_view id, const SessionChanges& changes) {
  const std::string k = key(id);
  // Encode and check everything before any I/O: a bad field writes nothing.
  std::vector<std::string> encoded;
  encoded.reserve(changes.set.size());
  for (const auto& [field, value] : changes.set) {
    detail::check_field(field);
    encoded.push_back(encode(field, value));
  }
  for (const std::string& field : changes.erase) detail::check_field(field);

  std::string nset = std::to_string(changes.set.size());
  // A save is sent again after a failure that may have come after the
  // script ran (its reply lost on the way back, which looks just like a
  // socket the server closed while it sat idle). An update sent twice is
  // harmless; a create would find its own first write and answer EXISTS
  // (SessionManager then moved the session to another id and left the first
  // copy behind). So each create carries a token of its own, 128 random bits
  // kept in the hash, and the script tells its own earlier write from a
  // taken id exactly.
  const std::string mode =
      changes.mode == SessionChanges::Mode::create ? "c" + generate_session_id() : std::string("u");
  std::vector<std::string_view> args = {"", "", "1", k, idle_ms_, absolute_ms_, mode, nset};
  args.reserve(args.size() + 2 * changes.set.size() + changes.erase.size());
  std::size_t i = 0;
  for (const auto& entry : changes.set) {
    args.push_back(entry.first);
    args.push_back(encoded[i++]);
  }
  for (const std::string& field : changes.erase) args.push_back(field);

  Reply r = run(Route::of(k), true, [&](Link& link) { return eval(link, detail::save_script(), args); });
  if (r.is_error()) throw_reply_error(r, k);
  if (is_word(r, "OK")) return SaveResult::saved;
  if (is_word(r, "GONE")) return SaveResult::gone;
  if (is_word(r, "EXISTS")) return SaveResult::exists;
  unexpected_reply("save", r);
}

std::optional<long long> RedisPoolStore::increment(std::string_view id, std::string_view field, long long by,
                                                   bool create) {
  const std::string k = key(id);
  detail::check_field(field);
  std::string delta = std::to_string(by);
  std::vector<std::string_view> args = {"", "", "1", k, idle_ms_, absolute_ms_, field, delta, create ? "1" : "0"};
  Reply r = run(Route::of(k), false, [&](Link& link) { return eval(link, detail::increment_script(), args); });
  if (r.is_error()) throw_reply_error(r, k, field);
  if (r.is_nil()) return std::nullopt;
  long long value = 0;
  if (!r.is_string() || !parse_integer(r.str, value)) unexpected_reply("increment", r);
  return value;
}

Reply RedisPoolStore::first_reply(Link& link, std::initializer_list<std::string_view> argv) {
  Request request;
  link.push(request, argv);
  return first_reply(link, request);
}

bool RedisPoolStore::destroy(std::string_view id) {
  const std::string k = key(id);
  Reply r = run(Route::of(k), true, [&](Link& link) { return first_reply(link, {"UNLINK", k}); });
  if (r.is_error()) throw_reply_error(r, k);
  return r.integer > 0;
}

bool RedisPoolStore::touch(std::string_view id) {
  const std::string k = key(id);
  Reply r = run(Route::of(k), true, [&](Link& link) {
    if (options_.expiry.absolute_lifetime) {
      std::vector<std::string_view> args = {"", "", "1", k, idle_ms_, absolute_ms_};
      return eval(link, detail::touch_script(), args);
    }
    return first_reply(link, {"PEXPIRE", k, idle_ms_});
  });
  if (r.is_error()) throw_reply_error(r, k);
  if (!r.is_integer()) unexpected_reply("touch", r);
  return r.integer == 1;
}

bool RedisPoolStore::exists(std::string_view id) {
  const std::string k = key(id);
  Reply r = run(Route::of(k), true, [&](Link& link) { return first_reply(link, {"EXISTS", k}); });
  if (r.is_error()) throw_reply_error(r, k);
  if (!r.is_integer()) unexpected_reply("exists", r);
  return r.integer == 1;
}

RegenerateResult RedisPoolStore::regenerate(std::string_view old_id, std::string_view new_id) {
  const std::string old_key = key(old_id);
  const std::string new_key = key(new_id);
  if (redis::key_slot(old_key) != redis::key_slot(new_key) && router_->is_cluster) {
    return regenerate_across_slots(old_key, new_key);
  }
  std::vector<std::string_view> args = {"", "", "2", old_key, new_key, idle_ms_, absolute_ms_};
  Reply r = run(Route::of(old_key), false, [&](Link& link) { return eval(link, detail::regenerate_script(), args); });
  if (r.is_error()) throw_reply_error(r, old_key);
  if (is_word(r, "OK")) return RegenerateResult::moved;
  if (is_word(r, "GONE")) return RegenerateResult::gone;
  if (is_word(r, "EXISTS")) return RegenerateResult::exists;
  unexpected_reply("regenerate", r);
}

// Two keys in two slots (of a cluster) cannot be renamed in one atomic step.
// The old session is copied and marked as moving in one script (from then on
// a save or increment of it reports gone rather than being acknowledged and
// lost); the new key is written from the copy, metadata included; only then
// is the old one deleted. If the old session was destroyed meanwhile, the
// copy is removed again: a destroyed session is never resurrected. If the
// new id is taken or the import fails, the mark is taken off again.
RegenerateResult RedisPoolStore::regenerate_across_slots(const std::string& old_key, const std::string& new_key) {
  std::vector<std::string_view> args = {"", "", "1", old_key, idle_ms_, absolute_ms_};
  Reply hash = run(Route::of(old_key), false, [&](Link& link) { return eval(link, detail::export_script(), args); });
  if (hash.is_error()) throw_reply_error(hash, old_key);
  if (is_word(hash, "GONE")) {
    Reply taken = run(Route::of(new_key), true, [&](Link& link) { return first_reply(link, {"EXISTS", new_key}); });
    if (taken.is_error()) throw_reply_error(taken, new_key);
    return taken.integer == 1 ? RegenerateResult::exists : RegenerateResult::gone;
  }
  if (!hash.is_array()) unexpected_reply("regenerate", hash);
  auto unmark = [&] {
    run(Route::of(old_key), true, [&](Link& link) { return first_reply(link, {"HDEL", old_key, moving_field}); });
  };
  args = {"", "", "1", new_key, idle_ms_, absolute_ms_};
  args.reserve(args.size() + hash.elements.size());
  for (const Reply& element : hash.elements) args.push_back(element.str);
  Reply r;
  try {
    r = run(Route::of(new_key), false, [&](Link& link) { return eval(link, detail::import_script(), args); });
  } catch (const Error&) {
    try {
      unmark();
    } catch (const Error&) {
      // The session stays readable and expires as before; the import's error is the one to report.
    }
    throw;
  }
  if (r.is_error() || is_word(r, "EXISTS")) {
    unmark();
    if (r.is_error()) throw_reply_error(r, new_key);
    return RegenerateResult::exists;
  }
  if (!is_word(r, "OK") && !is_word(r, "GONE")) unexpected_reply("regenerate", r);
  Reply removed = run(Route::of(old_key), false, [&](Link& link) { return first_reply(link, {"UNLINK", old_key}); });
  if (removed.is_error()) throw_reply_error(removed, old_key);
  if (is_word(r, "GONE")) return RegenerateResult::gone;  // past its absolute lifetime: both are gone now
  if (removed.integer == 0) {
    run(Route::of(new_key), false, [&](Link& link) { return first_reply(link, {"UNLINK", new_key}); });
    return RegenerateResult::gone;
  }
  return RegenerateResult::moved;
}

// Calls page(keys) for every session key of the namespace, node by node.
// MATCH "<ns>:*" also matches keys no id of this store can name: those of a
// namespace nested in ours ("app:admin:<id>" under "app") and strays such as
// "app:" or "app:a b". Only keys whose remainder is a valid id are passed on.
template <class F>
void RedisPoolStore::scan(F&& page) {
  const std::string pattern = glob_escape(options_.key_namespace) + ":*";
  const std::size_t prefix = options_.key_namespace.size() + 1;
  std::vector<std::string_view> keys;
  for (const std::shared_ptr<detail::Node>& node : router_->primaries()) {
    Route on_node{0, node};
    std::string cursor = "0";
    do {
      Reply r = run(on_node, true, [&](Link& link) {
        return first_reply(link, {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
      });
      if (r.is_error()) throw ServerError(r.str, "SCAN of namespace " + options_.key_namespace);
      if (!r.is_array() || r.elements.size() != 2) unexpected_reply("SCAN", r);
      cursor = r.elements[0].str;
      keys.clear();
      for (const Reply& k : r.elements[1].elements) {
        if (k.str.size() > prefix && detail::is_store_id(std::string_view(k.str).substr(prefix))) keys.push_back(k.str);
      }
      if (!keys.empty()) page(keys);
    } while (cursor != "0");
  }
}

std::size_t RedisPoolStore::count() {
  std::size_t n = 0;
  for_each_id([&](std::string_view) { ++n; });
  return n;
}

void RedisPoolStore::for_each_id(const std::function<void(std::string_view)>& f) {
  const std::size_t skip = options_.key_namespace.size() + 1;
  std::vector<std::string> ids;
  scan([&](const std::vector<std::string_view>& keys) {
    for (std::string_view k : keys) ids.emplace_back(k.substr(skip));
  });
  // SCAN may return a key twice (and a key moving between cluster nodes may
  // be seen on both); callers get each id once.
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  for (const std::string& id : ids) f(id);
}

std::size_t RedisPoolStore::clear() {
  std::size_t removed = 0;
  scan([&](const std::vector<std::string_view>& keys) {
    if (router_->is_cluster) {
      // Keys on one node may sit in different slots, which one UNLINK refuses
      // (CROSSSLOT): each key on its own, routed, so a slot moving meanwhile is followed.
      for (std::string_view k : keys) {
        Reply r = run(Route::of(k), true, [&](Link& link) { return first_reply(link, {"UNLINK", k}); });
        if (r.is_error()) throw_reply_error(r, k);
        removed += static_cast<std::size_t>(r.integer);
      }
      return;
    }
    std::vector<std::string_view> argv = {"UNLINK"};
    argv.insert(argv.end(), keys.begin(), keys.end());
    Route route{0, router_->primaries().front()};
    Reply r = run(route, true, [&](Link& link) {
      Request request;
      link.push(request, argv);
      return first_reply(link, request);
    });
    if (r.is_error()) throw ServerError(r.str, "UNLINK in namespace " + options_.key_namespace);
    if (!r.is_integer()) unexpected_reply("UNLINK", r);
    removed += static_cast<std::size_t>(r.integer);
  });
  return removed;
}

}  // namespace redis_session
