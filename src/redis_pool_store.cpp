#include "redis_session/redis_pool_store.hpp"

#include <algorithm>
#include <charconv>

#include "redis_session/detail/lua_scripts.hpp"
#include "redis_session/error.hpp"

namespace redis_session {

using redis::Connection;
using redis::Reply;
using redis::Request;

namespace {

constexpr std::string_view metadata_prefix("\0", 1);

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

redis::ConnectionOptions connection_options(const RedisPoolStoreOptions& o) {
  redis::ConnectionOptions c = o.connection;
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
}

}  // namespace

// ---------------------------------------------------------------- pool

std::shared_ptr<ConnectionPool> make_connection_pool(const redis::ConnectionOptions& connection, PoolOptions pool) {
  connection.validate();
  PoolHooks<Connection> hooks;
  hooks.create = [connection] { return std::make_unique<Connection>(connection); };
  hooks.validate = [](Connection& c) { return c.ping(); };
  hooks.is_broken = [](const Connection& c) { return c.broken(); };
  return std::make_shared<ConnectionPool>(std::move(hooks), std::move(pool));
}

// ---------------------------------------------------------------- store

RedisPoolStore::RedisPoolStore(RedisPoolStoreOptions options) : options_(std::move(options)) {
  validate(options_);
  pool_ = options_.shared_pool ? options_.shared_pool : make_connection_pool(connection_options(options_), options_.pool);
  idle_ms_ = std::to_string(options_.expiry.idle_timeout.count());
  absolute_ms_ = options_.expiry.absolute_lifetime ? std::to_string(options_.expiry.absolute_lifetime->count()) : "0";
}

RedisPoolStore::~RedisPoolStore() = default;

std::string RedisPoolStore::key(std::string_view id) const {
  detail::check_id(id);
  std::string k;
  k.reserve(options_.key_namespace.size() + 1 + id.size());
  k.append(options_.key_namespace).push_back(':');
  k.append(id);
  return k;
}

template <class F>
auto RedisPoolStore::run(bool idempotent, F&& f) {
  auto lease = pool_->acquire();
  bool reused = lease->round_trips() > 0;
  try {
    return f(*lease);
  } catch (const IoError&) {
    if (!idempotent || !reused || !lease->failed_before_reply()) throw;
  }
  // The server likely closed its idle sockets (restart, failover, timeout):
  // its other idle connections are as stale as this one was.
  lease.reset();
  pool_->drop_idle();
  auto fresh = pool_->acquire();
  return f(*fresh);
}

// One round trip; callers need only its first reply (a load's HGETALL, the
// script's result, the single command's answer).
Reply RedisPoolStore::first_reply(Connection& c, const Request& request) {
  round_trips_.fetch_add(1, std::memory_order_relaxed);
  std::vector<Reply> replies;
  c.execute(request, replies);
  return std::move(replies[0]);
}

Reply RedisPoolStore::eval(Connection& c, const detail::LuaScript& script, std::vector<std::string_view>& args) {
  // args: [command placeholder, script placeholder, numkeys, keys..., argv...]
  args[0] = "EVALSHA";
  args[1] = script.sha;
  Request request;
  request.push(args);
  Reply reply = first_reply(c, request);
  if (reply.is_error() && reply.str.rfind("NOSCRIPT", 0) == 0) {
    // The script cache is empty after a restart or failover; EVAL reloads it.
    args[0] = "EVAL";
    args[1] = script.source;
    request.clear();
    request.push(args);
    reply = first_reply(c, request);
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
  Reply hash = run(true, [&](Connection& c) {
    if (options_.expiry.absolute_lifetime) {
      std::vector<std::string_view> args = {"", "", "1", k, idle_ms_, absolute_ms_};
      return eval(c, detail::load_script(), args);
    }
    Request request;
    request.push({"HGETALL", k}).push({"PEXPIRE", k, idle_ms_});
    return first_reply(c, request);
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
  std::vector<std::string_view> args = {"", "", "1", k, idle_ms_, absolute_ms_,
                                        changes.mode == SessionChanges::Mode::create ? "c" : "u", nset};
  args.reserve(args.size() + 2 * changes.set.size() + changes.erase.size());
  std::size_t i = 0;
  for (const auto& entry : changes.set) {
    args.push_back(entry.first);
    args.push_back(encoded[i++]);
  }
  for (const std::string& field : changes.erase) args.push_back(field);

  Reply r = run(true, [&](Connection& c) { return eval(c, detail::save_script(), args); });
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
  Reply r = run(false, [&](Connection& c) { return eval(c, detail::increment_script(), args); });
  if (r.is_error()) throw_reply_error(r, k, field);
  if (r.is_nil()) return std::nullopt;
  long long value = 0;
  if (!r.is_string() || !parse_integer(r.str, value)) unexpected_reply("increment", r);
  return value;
}

bool RedisPoolStore::destroy(std::string_view id) {
  const std::string k = key(id);
  Reply r = run(true, [&](Connection& c) {
    return first_reply(c, Request{"UNLINK", k});
  });
  if (r.is_error()) throw_reply_error(r, k);
  return r.integer > 0;
}

bool RedisPoolStore::touch(std::string_view id) {
  const std::string k = key(id);
  Reply r = run(true, [&](Connection& c) {
    if (options_.expiry.absolute_lifetime) {
      std::vector<std::string_view> args = {"", "", "1", k, idle_ms_, absolute_ms_};
      return eval(c, detail::touch_script(), args);
    }
    return first_reply(c, Request{"PEXPIRE", k, idle_ms_});
  });
  if (r.is_error()) throw_reply_error(r, k);
  if (!r.is_integer()) unexpected_reply("touch", r);
  return r.integer == 1;
}

bool RedisPoolStore::exists(std::string_view id) {
  const std::string k = key(id);
  Reply r = run(true, [&](Connection& c) {
    return first_reply(c, Request{"EXISTS", k});
  });
  if (!r.is_integer()) unexpected_reply("exists", r);
  return r.integer == 1;
}

RegenerateResult RedisPoolStore::regenerate(std::string_view old_id, std::string_view new_id) {
  const std::string old_key = key(old_id);
  const std::string new_key = key(new_id);
  std::vector<std::string_view> args = {"", "", "2", old_key, new_key, idle_ms_, absolute_ms_};
  Reply r = run(false, [&](Connection& c) { return eval(c, detail::regenerate_script(), args); });
  if (r.is_error()) throw_reply_error(r, old_key);
  if (is_word(r, "OK")) return RegenerateResult::moved;
  if (is_word(r, "GONE")) return RegenerateResult::gone;
  if (is_word(r, "EXISTS")) return RegenerateResult::exists;
  unexpected_reply("regenerate", r);
}

template <class F>
void RedisPoolStore::scan(F&& page) {
  const std::string pattern = glob_escape(options_.key_namespace) + ":*";
  std::string cursor = "0";
  do {
    Reply r = run(true, [&](Connection& c) {
      return first_reply(c, Request{"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
    });
    if (r.is_error()) throw ServerError(r.str, "SCAN of namespace " + options_.key_namespace);
    if (!r.is_array() || r.elements.size() != 2) unexpected_reply("SCAN", r);
    cursor = r.elements[0].str;
    if (!r.elements[1].elements.empty()) page(r.elements[1].elements);
  } while (cursor != "0");
}

std::size_t RedisPoolStore::count() {
  std::size_t n = 0;
  for_each_id([&](std::string_view) { ++n; });
  return n;
}

void RedisPoolStore::for_each_id(const std::function<void(std::string_view)>& f) {
  const std::size_t skip = options_.key_namespace.size() + 1;
  std::vector<std::string> ids;
  scan([&](const std::vector<Reply>& keys) {
    for (const Reply& k : keys) ids.push_back(k.str.substr(skip));
  });
  // SCAN may return a key twice; callers get each id once.
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  for (const std::string& id : ids) f(id);
}

std::size_t RedisPoolStore::clear() {
  std::size_t removed = 0;
  scan([&](const std::vector<Reply>& keys) {
    std::vector<std::string_view> argv = {"UNLINK"};
    for (const Reply& k : keys) argv.push_back(k.str);
    Request request;
    request.push(argv);
    Reply r = run(true, [&](Connection& c) { return first_reply(c, request); });
    if (!r.is_integer()) unexpected_reply("UNLINK", r);
    removed += static_cast<std::size_t>(r.integer);
  });
  return removed;
}

}  // namespace redis_session
