// RedisPoolStore's operations: each builds its call (a pipeline or a script
// with its arguments), runs it through the call engine and reads the reply.
// Options, keys, values, script errors and retrying live in their own files.

#include "redis_session/redis_pool_store.hpp"

#include <algorithm>

#include "call_engine.hpp"
#include "redis_session/detail/field_codec.hpp"
#include "redis_session/detail/key_policy.hpp"
#include "redis_session/detail/lua_scripts.hpp"
#include "redis_session/detail/script_error.hpp"
#include "redis_session/error.hpp"
#include "redis_session/session_id.hpp"
#include "store_options.hpp"

namespace redis_session {

using detail::Link;
using detail::Route;
using detail::Script;
using detail::throw_script_error;
using redis::Reply;
using redis::Request;

namespace {

constexpr std::string_view metadata_prefix("\0", 1);
constexpr std::string_view moving_field("\0m", 2);  // see scripts/export.lua

// A Lua script's string result arrives as a bulk string.
bool is_word(const Reply& r, std::string_view word) {
  return (r.type == Reply::Type::string || r.type == Reply::Type::status) && r.str == word;
}

[[noreturn]] void unexpected_reply(const char* op, const Reply& r) {
  throw ProtocolError(std::string("unexpected reply to ") + op + ": a " + redis::to_string(r.type));
}

// The OK / GONE / EXISTS answer of the save and regenerate scripts.
template <class Result>
Result script_outcome(const char* op, const Reply& r, Result ok, Result gone, Result exists) {
  if (is_word(r, "OK")) return ok;
  if (is_word(r, "GONE")) return gone;
  if (is_word(r, "EXISTS")) return exists;
  unexpected_reply(op, r);
}

}  // namespace

RedisPoolStore::RedisPoolStore(RedisPoolStoreOptions options) : options_(std::move(options)) {
  detail::prepare_store_options(options_);
  router_ = detail::make_router(detail::router_config(options_));
  engine_ = std::make_unique<detail::CallEngine>(*router_, round_trips_);
  if (!router_->is_cluster) single_pool_ = router_->primaries().front()->pool;
  idle_ms_ = std::to_string(options_.expiry.idle_timeout.count());
  absolute_ms_ = options_.expiry.absolute_lifetime ? std::to_string(options_.expiry.absolute_lifetime->count()) : "0";
}

RedisPoolStore::~RedisPoolStore() = default;

ConnectionPool& RedisPoolStore::pool() {
  return *shared_pool();
}

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
  return detail::session_key(options_.key_namespace, id);
}

detail::ScriptArgs RedisPoolStore::script_args(std::initializer_list<std::string_view> keys, std::size_t extra) const {
  return detail::ScriptArgs(keys, idle_ms_, absolute_ms_, extra);
}

Fields RedisPoolStore::decode(std::string_view key, std::vector<Reply>& flat) const {
  Fields fields;
  bool has_metadata = false;
  for (std::size_t i = 0; i + 1 < flat.size(); i += 2) {
    std::string& name = flat[i].str;
    if (name.rfind(metadata_prefix, 0) == 0) {
      has_metadata = true;
      continue;
    }
    nlohmann::json value = detail::decode_field(options_.codec, options_.fallback_codecs, name, flat[i + 1].str, key);
    // HGETALL order is arbitrary, so the hint is only right sometimes; it is never wrong.
    fields.emplace_hint(fields.end(), std::move(name), std::move(value));
  }
  if (!flat.empty() && !has_metadata) {
    throw DecodeError("session " + detail::redacted_key(key) + " has no creation time (not written by redis_session?)");
  }
  return fields;
}

std::optional<Fields> RedisPoolStore::load(std::string_view id) {
  const std::string k = key(id);
  Reply hash = engine_->run(Route::of(k), true, [&](Link& link) {
    if (options_.expiry.absolute_lifetime) {
      detail::ScriptArgs args = script_args({k});
      return engine_->eval(link, Script::load, args);
    }
    Request request;
    link.push(request, {"HGETALL", k});
    link.push(request, {"PEXPIRE", k, idle_ms_});
    return engine_->first_reply(link, request);
  });
  if (hash.is_error()) throw_script_error(hash.str, k);
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
    encoded.push_back(detail::encode_field(options_.codec, options_.max_value_bytes, field, value));
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
  detail::ScriptArgs args = script_args({k}, 2 + 2 * changes.set.size() + changes.erase.size());
  args.add(mode).add(nset);
  std::size_t i = 0;
  for (const auto& entry : changes.set) args.add(entry.first).add(encoded[i++]);
  for (const std::string& field : changes.erase) args.add(field);

  Reply r = engine_->run(Route::of(k), true, [&](Link& link) { return engine_->eval(link, Script::save, args); });
  if (r.is_error()) throw_script_error(r.str, k);
  return script_outcome("save", r, SaveResult::saved, SaveResult::gone, SaveResult::exists);
}

std::optional<long long> RedisPoolStore::increment(std::string_view id, std::string_view field, long long by,
                                                   bool create) {
  const std::string k = key(id);
  detail::check_field(field);
  std::string delta = std::to_string(by);
  detail::ScriptArgs args = script_args({k}, 3);
  args.add(field).add(delta).add(create ? "1" : "0");
  Reply r = engine_->run(Route::of(k), false, [&](Link& link) { return engine_->eval(link, Script::increment, args); });
  if (r.is_error()) throw_script_error(r.str, k, field);
  if (r.is_nil()) return std::nullopt;
  long long value = 0;
  if (!r.is_string() || !detail::parse_integer(r.str, value)) unexpected_reply("increment", r);
  return value;
}

bool RedisPoolStore::destroy(std::string_view id) {
  const std::string k = key(id);
  Reply r = engine_->run(Route::of(k), true, [&](Link& link) { return engine_->first_reply(link, {"UNLINK", k}); });
  if (r.is_error()) throw_script_error(r.str, k);
  return r.integer > 0;
}

bool RedisPoolStore::touch(std::string_view id) {
  const std::string k = key(id);
  Reply r = engine_->run(Route::of(k), true, [&](Link& link) {
    if (options_.expiry.absolute_lifetime) {
      detail::ScriptArgs args = script_args({k});
      return engine_->eval(link, Script::touch, args);
    }
    return engine_->first_reply(link, {"PEXPIRE", k, idle_ms_});
  });
  if (r.is_error()) throw_script_error(r.str, k);
  if (!r.is_integer()) unexpected_reply("touch", r);
  return r.integer == 1;
}

bool RedisPoolStore::exists(std::string_view id) {
  const std::string k = key(id);
  Reply r = engine_->run(Route::of(k), true, [&](Link& link) { return engine_->first_reply(link, {"EXISTS", k}); });
  if (r.is_error()) throw_script_error(r.str, k);
  if (!r.is_integer()) unexpected_reply("exists", r);
  return r.integer == 1;
}

RegenerateResult RedisPoolStore::regenerate(std::string_view old_id, std::string_view new_id) {
  const std::string old_key = key(old_id);
  const std::string new_key = key(new_id);
  if (redis::key_slot(old_key) != redis::key_slot(new_key) && router_->is_cluster) {
    return regenerate_across_slots(old_key, new_key);
  }
  detail::ScriptArgs args = script_args({old_key, new_key});
  Reply r = engine_->run(Route::of(old_key), false,
                         [&](Link& link) { return engine_->eval(link, Script::regenerate, args); });
  if (r.is_error()) throw_script_error(r.str, old_key);
  return script_outcome("regenerate", r, RegenerateResult::moved, RegenerateResult::gone, RegenerateResult::exists);
}

// Two keys in two slots (of a cluster) cannot be renamed in one atomic step.
// The old session is copied and marked as moving in one script (from then on
// a save or increment of it reports gone rather than being acknowledged and
// lost); the new key is written from the copy, metadata included; only then
// is the old one deleted. If the old session was destroyed meanwhile, the
// copy is removed again: a destroyed session is never resurrected. If the
// new id is taken or the import fails, the mark is taken off again.
RegenerateResult RedisPoolStore::regenerate_across_slots(const std::string& old_key, const std::string& new_key) {
  // One plain command on one key, routed to its slot.
  auto command = [&](const std::string& k, bool idempotent, std::initializer_list<std::string_view> argv) {
    return engine_->run(Route::of(k), idempotent, [&](Link& link) { return engine_->first_reply(link, argv); });
  };
  detail::ScriptArgs export_args = script_args({old_key});
  Reply hash = engine_->run(Route::of(old_key), false,
                            [&](Link& link) { return engine_->eval(link, Script::export_hash, export_args); });
  if (hash.is_error()) throw_script_error(hash.str, old_key);
  if (is_word(hash, "GONE")) {
    Reply taken = command(new_key, true, {"EXISTS", new_key});
    if (taken.is_error()) throw_script_error(taken.str, new_key);
    return taken.integer == 1 ? RegenerateResult::exists : RegenerateResult::gone;
  }
  if (!hash.is_array()) unexpected_reply("regenerate", hash);
  auto unmark = [&] { command(old_key, true, {"HDEL", old_key, moving_field}); };
  detail::ScriptArgs import_args = script_args({new_key}, hash.elements.size());
  for (const Reply& element : hash.elements) import_args.add(element.str);
  Reply r;
  try {
    r = engine_->run(Route::of(new_key), false,
                     [&](Link& link) { return engine_->eval(link, Script::import_hash, import_args); });
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
    if (r.is_error()) throw_script_error(r.str, new_key);
    return RegenerateResult::exists;
  }
  if (!is_word(r, "OK") && !is_word(r, "GONE")) unexpected_reply("regenerate", r);
  Reply removed = command(old_key, false, {"UNLINK", old_key});
  if (removed.is_error()) throw_script_error(removed.str, old_key);
  if (is_word(r, "GONE")) return RegenerateResult::gone;  // past its absolute lifetime: both are gone now
  if (removed.integer == 0) {
    command(new_key, false, {"UNLINK", new_key});
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
  const std::string pattern = detail::glob_escape(options_.key_namespace) + ":*";
  std::vector<std::string_view> keys;
  for (const std::shared_ptr<detail::Node>& node : router_->primaries()) {
    Route on_node{0, node};
    std::string cursor = "0";
    do {
      Reply r = engine_->run(on_node, true, [&](Link& link) {
        return engine_->first_reply(link, {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
      });
      if (r.is_error()) throw ServerError(r.str, "SCAN of namespace " + options_.key_namespace);
      if (!r.is_array() || r.elements.size() != 2) unexpected_reply("SCAN", r);
      cursor = r.elements[0].str;
      keys.clear();
      for (const Reply& k : r.elements[1].elements) {
        if (!detail::id_in_namespace(options_.key_namespace, k.str).empty()) keys.push_back(k.str);
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
        Reply r = engine_->run(Route::of(k), true, [&](Link& link) {
          return engine_->first_reply(link, {"UNLINK", k});
        });
        if (r.is_error()) throw_script_error(r.str, k);
        removed += static_cast<std::size_t>(r.integer);
      }
      return;
    }
    std::vector<std::string_view> argv = {"UNLINK"};
    argv.insert(argv.end(), keys.begin(), keys.end());
    Route route{0, router_->primaries().front()};
    Reply r = engine_->run(route, true, [&](Link& link) {
      Request request;
      link.push(request, argv);
      return engine_->first_reply(link, request);
    });
    if (r.is_error()) throw ServerError(r.str, "UNLINK in namespace " + options_.key_namespace);
    if (!r.is_integer()) unexpected_reply("UNLINK", r);
    removed += static_cast<std::size_t>(r.integer);
  });
  return removed;
}

}  // namespace redis_session
